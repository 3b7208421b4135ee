//! Build suites from specs.
