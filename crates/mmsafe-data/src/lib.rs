//! Dataset loaders and built-in suites: every source's labels mapped onto the
//! mmsafe hazard taxonomy.
//!
//! A suite spec (`figstep:safebench.csv`, `csv:x.csv:text=prompt`, `privacy`)
//! resolves through [`registry::open`] to a [`mmsafe_core::Source`] that
//! yields one `Result<Case, DataError>` per row, lazily; every error names the
//! file, line (or record) and field.

pub mod csvrows;
pub mod images;
pub mod json;
pub mod loader;
pub mod loaders;
pub mod manifest;
pub mod options;
pub mod paths;
pub mod quick;
pub mod registry;
pub mod source;
pub mod spec;
pub mod suites;
pub mod validate;

pub use options::{LoadOptions, SkipLog};
pub use registry::{open, KnownFile, Loader, LOADERS};
