//! What a loader is: the [`Loader`] every loader file declares and the
//! [`Input`] its build function gets. In a file of its own so the loader
//! files and the registry both depend on it and not on each other.

use crate::options::LoadOptions;
use mmsafe_core::{DataError, ParamSpec, Params, Source};
use std::path::Path;

/// A file whose SHA-256 is known from the dataset's SOURCE.md.
#[derive(Debug, Clone, Copy)]
pub struct KnownFile {
    /// Path relative to the dataset folder, as in SOURCE.md.
    pub path: &'static str,
    pub sha256: &'static str,
    /// Records in the file, when SOURCE.md states it.
    pub rows: Option<usize>,
}

impl KnownFile {
    pub const fn new(path: &'static str, sha256: &'static str, rows: Option<usize>) -> KnownFile {
        KnownFile { path, sha256, rows }
    }
}

/// What a loader is given to build its source.
pub struct Input<'a> {
    /// The full spec, used as `Case::source` and `Source::name`.
    pub spec: &'a str,
    /// The file or folder (empty for built-in suites).
    pub path: &'a Path,
    pub params: &'a Params,
    pub opts: &'a LoadOptions,
}

pub struct Loader {
    pub name: &'static str,
    /// e.g. `figstep:<safebench.csv>`.
    pub usage: &'static str,
    /// One line: the format and how labels map.
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    /// `false` for built-in suites, which read no file.
    pub takes_path: bool,
    pub known_files: &'static [KnownFile],
    pub build: fn(&Input<'_>) -> Result<Box<dyn Source>, DataError>,
}
