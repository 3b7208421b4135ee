//! `vote:<j1>,<j2>,…[:mode=majority|unanimous]`: an ensemble of judges.

use crate::spec::{Build, JudgeKind, SpecError};
use crate::vote::{self, VoteJudge};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "vote",
    usage: "vote:<j1>,<j2>,…[:mode=majority|unanimous]",
    summary: "an ensemble: the majority (or unanimous) label of its member judges",
    example: Some("vote:llm:TARGET,llamaguard:TARGET"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let (members, mode) =
        vote::parse_spec(b.rest.unwrap_or_default()).map_err(|e| SpecError::judge(b.spec, e))?;
    let members = members
        .iter()
        .map(|m| (b.member)(m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(VoteJudge::new(members, mode)))
}
