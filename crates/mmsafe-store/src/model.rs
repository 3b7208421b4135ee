//! The records the store reads and writes.

use mmsafe_core::{Case, Response, TargetErrorKind, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Everything needed to (re)run a scan: every spec string as the user gave it.
/// Stored as JSON with the run so that `--resume RUN` needs nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub target: String,
    pub suites: Vec<String>,
    pub attacks: Vec<String>,
    pub defenses: Vec<String>,
    pub judges: Vec<String>,
    pub repeats: u32,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Operational settings that do not change results (concurrency, rate,
    /// timeout, cache, …) kept for the record and reused on resume.
    #[serde(default)]
    pub options: crate::RunOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Interrupted,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "interrupted" => RunStatus::Interrupted,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new run as the caller describes it.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub name: Option<String>,
    pub plan: Plan,
    pub seed: u64,
    /// Component versions (`mmsafe`, model revisions, …).
    pub versions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: String,
    pub name: Option<String>,
    /// RFC 3339 UTC.
    pub created: String,
    pub finished: Option<String>,
    pub status: RunStatus,
    pub plan: Plan,
    pub seed: u64,
    pub versions: BTreeMap<String, String>,
}

/// A run with its attempt counts, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub run: Run,
    pub attempts: u64,
    pub errors: u64,
}

/// What was sent, minus the case messages (stored once per case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Target spec the request went to (never contains secrets).
    #[serde(default)]
    pub target: String,
}

/// A case to record, under the attack spec that produced it.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub attack: String,
    pub case: Arc<Case>,
}

/// A target call that failed after all retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptError {
    /// `TargetErrorKind::as_str()`: `timeout`, `rate_limited`, `server`, …
    pub kind: String,
    pub message: String,
    pub retries: u32,
    pub latency_ms: f64,
}

impl AttemptError {
    pub fn new(
        kind: TargetErrorKind,
        message: impl Into<String>,
        retries: u32,
        latency_ms: f64,
    ) -> Self {
        AttemptError {
            kind: kind.as_str().to_string(),
            message: message.into(),
            retries,
            latency_ms,
        }
    }
}

/// One attempt to write: the request's identity, its outcome and its verdicts.
/// Written in one transaction with its verdicts, so a reader never sees an
/// attempt without the verdicts the engine computed for it.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub key: String,
    pub case_id: String,
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    pub request: RequestSummary,
    pub outcome: Result<Response, AttemptError>,
    pub verdicts: Vec<Verdict>,
}

/// An attempt read back, with its case (images resolved) and verdicts.
#[derive(Debug, Clone)]
pub struct StoredAttempt {
    pub key: String,
    pub run_id: String,
    /// Shared between the attempts of the same case (defenses, repeats).
    pub case: Arc<Case>,
    pub base_case_id: String,
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    pub request: RequestSummary,
    pub outcome: Result<Response, AttemptError>,
    pub verdicts: Vec<Verdict>,
}

/// Stable attempt key: the same run, case, attack, defense and repeat always
/// give the same key, which is what makes resume and idempotent writes work.
pub fn attempt_key(
    run_id: &str,
    case_id: &str,
    attack: &str,
    defense: &str,
    repeat: u32,
) -> String {
    let rep = repeat.to_string();
    let d = mmsafe_core::seed::derive(0, &[run_id, case_id, attack, defense, &rep]);
    // 64 bits from sha256 plus a second, differently-salted 64 bits: 128-bit keys.
    let e = mmsafe_core::seed::derive(1, &[run_id, case_id, attack, defense, &rep]);
    format!("{d:016x}{e:016x}")
}

/// The dataset case an attacked case derives from.
pub fn base_case_id(case: &Case) -> &str {
    case.provenance
        .first()
        .map(|p| p.parent.as_str())
        .unwrap_or(case.id.as_str())
}
