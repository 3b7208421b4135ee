//! Build judges from specs (`refusal`, `llm:<target>`, `llamaguard:<target>`, `classifier`, `vote:…`).

use mmsafe_core::DynJudge;
use mmsafe_target::TargetOptions;

pub fn build_judge(spec: &str, _opts: &TargetOptions) -> anyhow::Result<DynJudge> {
    anyhow::bail!("unknown judge `{spec}`")
}
