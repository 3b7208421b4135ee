//! Build case sources from suite specs (`figstep:<path>`, `quick`, …).

use mmsafe_core::Source;

#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// Skip rows whose images fail to decode (reported), instead of failing.
    pub skip_broken: bool,
}

pub fn build_source(spec: &str, _opts: &SuiteOptions) -> anyhow::Result<Box<dyn Source>> {
    anyhow::bail!("unknown suite `{spec}`")
}
