//! Build defenses from specs.
