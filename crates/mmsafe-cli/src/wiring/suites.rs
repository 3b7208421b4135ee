//! Build case sources from suite specs (`figstep:<path>`, `quick`, …).
//!
//! Dataset loaders and the built-in suites (`quick`, `privacy`, `fairness`)
//! all come from the `mmsafe-data` registry (`mmsafe datasets list`).

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
    Ok(mmsafe_data::open(spec, &opts.load_options())?)
}
