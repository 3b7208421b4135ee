//! Build attacks from specs.
