//! `none`: the case unchanged (the text-only baseline).

use crate::spec::{AttackSpec, BuildCtx};
use async_trait::async_trait;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, Params};
use std::borrow::Cow;
use std::sync::Arc;

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("none"),
    summary: Cow::Borrowed("No attack: the case as loaded (baseline)"),
    params: &[],
    uses_seed: false,
    build,
};

struct NoAttack;

fn build(_name: &str, _params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    Ok(Arc::new(NoAttack))
}

#[async_trait]
impl Attack for NoAttack {
    fn name(&self) -> &str {
        "none"
    }

    /// No provenance step: an unattacked case keeps its id and chain `none`.
    async fn apply(&self, case: &Case, _seed: u64) -> Result<Vec<Case>, AttackError> {
        Ok(vec![case.clone()])
    }
}
