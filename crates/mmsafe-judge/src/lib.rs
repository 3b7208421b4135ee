//! Judges: (Case, Response) → Verdict.
//!
//! `refusal` (rules), `llm:<target>` (rubric prompts through any target),
//! `llamaguard:<target>` (guard-model output parsing), `classifier` (offline
//! embedding + trained head), `vote:` ensembles and `cascade:` stacks, any
//! of them selective with `:defer=LOW-HIGH`, plus the labelled-data loaders
//! and agreement and risk–coverage statistics used to calibrate them.

pub mod calibrate;
pub mod cascade;
pub mod classifier;
pub mod coverage;
pub mod eval;
pub mod kinds;
pub mod labels;
pub mod llamaguard;
pub mod llm;
pub mod refusal;
pub mod registry;
pub mod selective;
pub mod spec;
pub mod text;
pub mod training;
pub mod vote;

pub use refusal::RefusalJudge;
pub use registry::JUDGES;
pub use spec::{JudgeKind, JudgeResolver, SpecError};
