//! `Attack`: a seeded transform Case → Cases.

use crate::case::Case;
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
#[error("attack `{attack}`: {message}")]
pub struct AttackError {
    pub attack: String,
    pub message: String,
}

impl AttackError {
    pub fn new(attack: impl Into<String>, message: impl Into<String>) -> AttackError {
        AttackError {
            attack: attack.into(),
            message: message.into(),
        }
    }
}

/// A deterministic transform of one case into one or more attacked cases.
///
/// Contract: the same case, parameters and seed give byte-identical output.
/// Each produced case records the step in its provenance (see
/// [`Case::derive`]). The trait is async only so that attacks that need a model
/// (key-phrase extraction through a `Target`) fit the same shape; rendering
/// attacks do their work synchronously.
#[async_trait]
pub trait Attack: Send + Sync {
    /// Name with parameters as given, e.g. `figstep` or `inject:corner:size=12`.
    fn name(&self) -> &str;
    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError>;

    /// How many cases [`Attack::apply`] returns for one input case, for sizing
    /// a scan before it runs (`planned` attempts, the progress bar).
    ///
    /// Contract: `Some(n)` only when every successful `apply` returns exactly
    /// `n` cases, whatever the input; `None` when the count depends on the
    /// case (e.g. one variant per image). The default, `Some(1)`, is right for
    /// one-to-one transforms; an attack that fans out must override it, or
    /// plans report the wrong size.
    fn cases_per_input(&self) -> Option<usize> {
        Some(1)
    }
}

pub type DynAttack = Arc<dyn Attack>;
