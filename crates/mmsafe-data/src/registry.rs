//! The loader registry: every suite a `--suite` spec can name.
//!
//! Adding a loader = one file under `loaders/` (or `suites/`) that defines a
//! `pub static LOADER: Loader` (the type is in `loader.rs`), plus one line in
//! [`LOADERS`].

use crate::options::LoadOptions;
use crate::spec::SuiteSpec;
use crate::{loaders, suites};
use mmsafe_core::{DataError, Params, Source};
use std::path::Path;

pub use crate::loader::{Input, KnownFile, Loader};

pub static LOADERS: &[&Loader] = &[
    &crate::quick::LOADER,
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
    &loaders::mmdt::LOADER,
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

/// The `tracing` target of the event every [`open`] emits, with the suite
/// spec in field `suite`.
pub const OPEN_EVENT: &str = "mmsafe_data::open";

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
    // One event per source built: a scan should build each suite once, and
    // a test counts these events to hold it to that (mmsafe-cli's
    // `tests/scan_once.rs`).
    tracing::debug!(target: OPEN_EVENT, suite = %spec.trim(), "suite built");
    Ok(Box::new(crate::options::Summarized {
        inner,
        skipped: opts.skipped,
    }))
}
