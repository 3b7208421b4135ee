//! `vote:<j1>,<j2>,…[:mode=majority|unanimous][:weights=W1,W2,…]`: an
//! ensemble of judges, optionally weighted.

use crate::spec::{Build, JudgeKind, SpecError};
use crate::vote::{self, VoteJudge};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "vote",
    usage: "vote:<j1>,<j2>,…[:mode=majority|unanimous][:weights=W1,W2,…]",
    summary: "an ensemble: the majority (or unanimous) label of its member judges",
    example: Some("vote:llm:TARGET,llamaguard:TARGET"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let (members, mode, weights) = vote::parse_weighted(b.rest.unwrap_or_default())
        .map_err(|e| SpecError::judge(b.spec, e))?;
    let members = members
        .iter()
        .map(|m| (b.member)(m))
        .collect::<Result<Vec<_>, _>>()?;
    let vote = VoteJudge::new(members, mode);
    Ok(Arc::new(match weights {
        Some(w) => vote
            .with_weights(w)
            .map_err(|e| SpecError::judge(b.spec, e))?,
        None => vote,
    }))
}
