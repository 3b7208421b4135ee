//! The scan loop: plan, stream cases through attacks, defenses, target and
//! judges, with bounded concurrency and resume.
//!
//! One scan = suites × attacks × defenses × repeats against one target, judged
//! by every judge. Cases stream from the sources through a small bounded
//! channel; each attempt holds a concurrency permit from before it is spawned
//! until its result is handed to the writer, so memory is bounded by the
//! concurrency, not the suite size. One writer thread owns the store and
//! commits results in batches (see [`writer`]); an attempt is written with its
//! verdicts in one transaction or not at all.

mod attacked;
mod estimate;
mod progress;
mod rejudge;
mod run;
mod writer;

pub use estimate::{estimate, planned_attempts, Estimate};
pub use mmsafe_store::Plan;
pub use progress::Progress;
pub use rejudge::{rejudge, JudgeTally};
pub use run::{check_unique_ids, scan, scan_keeping_store, Finished, Scan};
pub use tokio_util::sync::CancellationToken;

use mmsafe_core::{AttackError, DataError, DynAttack, Layer, TargetError};
use mmsafe_store::StoreError;
use std::sync::Arc;

/// An attack with the spec string it was built from (the name runs record).
#[derive(Clone)]
pub struct NamedAttack {
    pub spec: String,
    pub attack: DynAttack,
}

/// A defense policy with its spec; `layer` is `None` for `none`.
#[derive(Clone)]
pub struct NamedDefense {
    pub spec: String,
    pub layer: Option<Arc<dyn Layer>>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A suite file problem (names file, line and field).
    #[error("{0}")]
    Data(#[from] DataError),
    #[error("case `{case}`: {source}")]
    Attack {
        case: String,
        #[source]
        source: AttackError,
    },
    /// The target cannot be used at all (unreachable, bad key, bad spec):
    /// reported before any result was recorded for it.
    #[error("target `{target}`: {source}")]
    Target {
        target: String,
        #[source]
        source: TargetError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store writer stopped unexpectedly")]
    WriterGone,
    #[error("{0}")]
    Io(String),
}
