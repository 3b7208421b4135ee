//! `cascade:<j1>,<j2>,…`: the first confident member decides.

use crate::cascade::{self, CascadeJudge};
use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "cascade",
    usage: "cascade:<j1>,<j2>,…",
    summary:
        "a stack: members in order, the first that decides (not undecided, not failed) answers",
    example: Some("cascade:llm:TARGET,llamaguard:TARGET"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let members = cascade::parse_spec(b.rest.unwrap_or_default())
        .map_err(|e| SpecError::judge(b.spec, e))?
        .iter()
        .map(|m| (b.member)(m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(CascadeJudge::new(members)))
}
