//! Build judges from specs.
