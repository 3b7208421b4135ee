//! Build targets from specs (`openai-compatible:<url>#<model>`, `openai:<model>`, `local:smollm2`, …).

use mmsafe_core::DynTarget;
pub use mmsafe_target::TargetOptions;

pub fn build_target(spec: &str, _opts: &TargetOptions) -> anyhow::Result<DynTarget> {
    anyhow::bail!("unknown target spec `{spec}`")
}
