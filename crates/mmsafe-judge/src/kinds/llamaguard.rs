//! `llamaguard:<target>`: a Llama Guard model's `safe` / `unsafe` answer.

use crate::llamaguard::LlamaGuardJudge;
use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "llamaguard",
    usage: "llamaguard:<target>",
    summary: "a Llama Guard model served by a target; its safe/unsafe answer and hazard category",
    example: Some("llamaguard:TARGET"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let target_spec = b
        .rest
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| SpecError::judge(b.spec, format!("needs a target: {}", KIND.usage)))?;
    let target = b
        .resolver
        .target(target_spec)
        .map_err(|e| SpecError::judge(b.spec, e))?;
    Ok(Arc::new(LlamaGuardJudge::new(target)))
}
