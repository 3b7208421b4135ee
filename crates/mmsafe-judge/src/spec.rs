//! What a judge kind is: the type every entry of [`crate::registry::JUDGES`]
//! has, in a file of its own so the kinds and the table both depend on it and
//! not on each other.

use mmsafe_core::{DynJudge, DynTarget, Embedder, PairScorer};
use std::sync::Arc;

/// The models a judge may need, supplied by whoever wires plugins (the CLI),
/// so this crate links no HTTP client and no inference runtime.
pub trait JudgeResolver: Send + Sync {
    /// A target for a judge that asks a model (`llm:`, `llamaguard:`).
    fn target(&self, spec: &str) -> Result<DynTarget, String>;
    /// Sentence embeddings (`classifier:head` and head files).
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String>;
    /// A cross-encoder from its fine-tuned weights (`classifier`, and
    /// `classifier:FILE.safetensors`); `source` names the weights in errors.
    fn pair_scorer(&self, weights: &[u8], source: &str) -> Result<Arc<dyn PairScorer>, String>;
}

/// A judge spec that cannot be built; the message names the spec.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl SpecError {
    /// `judge `SPEC`: MESSAGE`.
    pub fn judge(spec: &str, message: impl std::fmt::Display) -> SpecError {
        SpecError(format!("judge `{spec}`: {message}"))
    }
}

/// What a kind's `build` gets.
pub struct Build<'a> {
    /// The whole spec, trimmed (it names the judge in verdicts and errors).
    pub spec: &'a str,
    /// The part after `NAME:`, or `None` for the bare name.
    pub rest: Option<&'a str>,
    pub resolver: &'a dyn JudgeResolver,
    /// Builds a member judge through the same table (ensembles, cascades).
    pub member: &'a dyn Fn(&str) -> Result<DynJudge, SpecError>,
}

/// One judge kind: a spec prefix and how to build the judge it names.
pub struct JudgeKind {
    /// `NAME` matches the spec `NAME` and every spec `NAME:…`.
    pub name: &'static str,
    /// e.g. `llm:<target>[:rubric=harmbench|strongreject|mmsb]`.
    pub usage: &'static str,
    /// One line for `--help` and docs.
    pub summary: &'static str,
    /// A spec that builds this kind, with `TARGET` standing for a target
    /// spec, for the conformance test; `None` for a kind that judges no
    /// response (it only names verdicts recorded elsewhere).
    pub example: Option<&'static str>,
    pub build: fn(&Build<'_>) -> Result<DynJudge, SpecError>,
}

impl JudgeKind {
    /// Whether `spec` names this kind.
    pub fn matches(&self, spec: &str) -> bool {
        spec.strip_prefix(self.name)
            .is_some_and(|r| r.is_empty() || r.starts_with(':'))
    }
}
