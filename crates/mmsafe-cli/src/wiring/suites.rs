//! Build case sources from suite specs (`figstep:<path>`, `quick`, …).
//!
//! Dataset loaders and the built-in `privacy` / `fairness` suites come from the
//! `mmsafe-data` registry (`mmsafe datasets list`); suites that live in other
//! crates get an arm here.

use mmsafe_core::Source;
use mmsafe_data::{LoadOptions, SkipLog};

#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// Skip rows whose images fail to decode (reported), instead of failing.
    pub skip_broken: bool,
    /// Rows skipped under `skip_broken`, with file, row and reason; read it
    /// after iterating to report them.
    pub skipped: SkipLog,
}

impl SuiteOptions {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            skip_broken: self.skip_broken,
            skipped: self.skipped.clone(),
        }
    }
}

pub fn build_source(spec: &str, opts: &SuiteOptions) -> anyhow::Result<Box<dyn Source>> {
    let name = spec.split(':').next().unwrap_or(spec).trim();
    match name {
        // Suites from other crates: one arm each, above the registry fallback.
        mmsafe_data::quick::NAME => Ok(mmsafe_data::quick::QuickSuite::boxed()),
        _ => Ok(mmsafe_data::open(spec, &opts.load_options())?),
    }
}
