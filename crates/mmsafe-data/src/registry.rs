//! The loader registry: every suite a `--suite` spec can name.
//!
//! Adding a loader = one file under `loaders/` (or `suites/`) that defines a
//! `pub static LOADER: Loader`, plus one line in [`LOADERS`].

use crate::options::LoadOptions;
use crate::spec::SuiteSpec;
use crate::{loaders, suites};
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

pub static LOADERS: &[&Loader] = &[
    &loaders::figstep::LOADER,
    &loaders::mmsafetybench::LOADER,
    &loaders::harmbench::LOADER,
    &loaders::jbb::LOADER,
    &loaders::advbench::LOADER,
    &loaders::xstest::LOADER,
    &loaders::vlguard::LOADER,
    &loaders::mossbench::LOADER,
    &loaders::siuo::LOADER,
    &loaders::mm_harmfulbench::LOADER,
    &loaders::simplesafetytests::LOADER,
    &loaders::jailbreakv::LOADER,
    &loaders::vlsbench::LOADER,
    &loaders::msts::LOADER,
    &loaders::vlsu::LOADER,
    &loaders::mssbench::LOADER,
    &loaders::hades::LOADER,
    &loaders::omnisafebench_mm::LOADER,
    &loaders::safebench_mm::LOADER,
    &loaders::generic::CSV_LOADER,
    &loaders::generic::JSONL_LOADER,
    &loaders::manifest::LOADER,
    &suites::privacy::LOADER,
    &suites::fairness::LOADER,
];

pub fn find(name: &str) -> Option<&'static Loader> {
    LOADERS.iter().copied().find(|l| l.name == name)
}

/// Parse a suite spec against the registry.
pub fn parse(spec: &str) -> Result<(SuiteSpec, &'static Loader), DataError> {
    let parsed = SuiteSpec::parse(spec, |name| find(name).is_none_or(|l| l.takes_path))
        .map_err(|m| DataError::new(format!("suite `{spec}`"), m))?;
    let Some(loader) = find(&parsed.loader) else {
        let names: Vec<&str> = LOADERS.iter().map(|l| l.name).collect();
        let hint = match mmsafe_core::params::did_you_mean(&parsed.loader, &names) {
            Some(s) => format!(" (did you mean `{s}`?)"),
            None => String::new(),
        };
        return Err(DataError::new(
            format!("suite `{spec}`"),
            format!(
                "unknown loader `{}`{hint}; known: {}",
                parsed.loader,
                names.join(", ")
            ),
        ));
    };
    if loader.takes_path && parsed.path.is_empty() {
        return Err(DataError::new(
            format!("suite `{spec}`"),
            format!("`{}` needs a path: {}", loader.name, loader.usage),
        ));
    }
    Ok((parsed, loader))
}

/// Build the source a suite spec names.
pub fn open(spec: &str, opts: &LoadOptions) -> Result<Box<dyn Source>, DataError> {
    let (parsed, loader) = parse(spec)?;
    let params = Params::resolve(loader.name, &parsed.params, loader.params)
        .map_err(|e| DataError::new(format!("suite `{spec}`"), e.to_string()))?;
    let path = Path::new(&parsed.path);
    if loader.takes_path {
        crate::paths::exists(path).map_err(|why| DataError::new(parsed.path.clone(), why))?;
    }
    let opts = opts.scoped();
    let inner = (loader.build)(&Input {
        spec: spec.trim(),
        path,
        params: &params,
        opts: &opts,
    })?;
    Ok(Box::new(crate::options::Summarized {
        inner,
        skipped: opts.skipped,
    }))
}
