//! `llm:<target>[:rubric=…]`: a rubric prompt answered by any target.

use crate::llm::{LlmJudge, Rubric};
use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "llm",
    usage: "llm:<target>[:rubric=harmbench|strongreject|mmsb]",
    summary: "LLM-as-judge: a rubric prompt (HarmBench, StrongREJECT, MM-SafetyBench) answered by a target",
    example: Some("llm:TARGET"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let rest = b
        .rest
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| SpecError::judge(b.spec, format!("needs a target: {}", KIND.usage)))?;
    let (target_spec, rubric) = match rest.rsplit_once(":rubric=") {
        Some((t, r)) => {
            let rubric = Rubric::parse(r.trim()).ok_or_else(|| {
                SpecError::judge(
                    b.spec,
                    format!("unknown rubric `{r}` (expected harmbench, strongreject or mmsb)"),
                )
            })?;
            (t, rubric)
        }
        None => (rest, Rubric::HarmBench),
    };
    let target = b
        .resolver
        .target(target_spec)
        .map_err(|e| SpecError::judge(b.spec, e))?;
    Ok(Arc::new(LlmJudge::new(target, rubric)))
}
