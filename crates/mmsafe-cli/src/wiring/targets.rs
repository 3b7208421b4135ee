//! Build targets from specs.
