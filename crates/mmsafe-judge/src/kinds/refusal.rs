//! `refusal`: the rule judge.

use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "refusal",
    usage: "refusal",
    summary: "rules over the reply: refusal phrases and signals; offline and instant",
    example: Some("refusal"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    if b.rest.is_some() {
        return Err(SpecError::judge(b.spec, "`refusal` takes no parameters"));
    }
    Ok(Arc::new(crate::RefusalJudge::new()))
}
