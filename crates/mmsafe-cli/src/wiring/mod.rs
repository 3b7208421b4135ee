//! Building plugins from their command-line specs. The only place that knows
//! every plugin crate; one file per plugin kind.

pub mod attacks;
pub mod defenses;
pub mod judges;
pub mod models;
pub mod suites;
pub mod targets;
