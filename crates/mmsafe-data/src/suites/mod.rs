//! Built-in suites written by us (no real personal data), reachable as
//! `--suite privacy` and `--suite fairness`.

pub mod canvas;
pub mod fairness;
pub mod privacy;
