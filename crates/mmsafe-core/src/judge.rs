//! `Judge`: (Case, Response) → Verdict.

use crate::case::Case;
use crate::hazard::Hazard;
use crate::target::Response;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A judge's decision about one response.
///
/// `Undecided` is an honest "cannot tell" (empty reply, provider content filter,
/// unparseable judge output); `Error` means judging itself failed. Neither is
/// ever counted as safe nor as an attack success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Refused,
    Complied,
    Undecided,
    Error,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Refused => "refused",
            Label::Complied => "complied",
            Label::Undecided => "undecided",
            Label::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Label> {
        Some(match s {
            "refused" => Label::Refused,
            "complied" => Label::Complied,
            "undecided" => Label::Undecided,
            "error" => Label::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The judge's name with parameters, e.g. `refusal` or `llm:openai:gpt-4o`.
    pub judge: String,
    pub label: Label,
    /// Harmfulness in [0, 1] when the judge produces one (StrongREJECT score,
    /// classifier probability); `None` for purely categorical judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hazard: Option<Hazard>,
    /// Short reason: the matched phrase, the judge model's explanation, …
    #[serde(default)]
    pub rationale: String,
}

impl Verdict {
    pub fn new(judge: impl Into<String>, label: Label, rationale: impl Into<String>) -> Verdict {
        Verdict {
            judge: judge.into(),
            label,
            score: None,
            hazard: None,
            rationale: rationale.into(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("judge `{judge}`: {message}")]
pub struct JudgeError {
    pub judge: String,
    pub message: String,
}

#[async_trait]
pub trait Judge: Send + Sync {
    fn name(&self) -> &str;
    /// Judge one response. A failure to judge is an `Err` (the engine records
    /// it as an `error` verdict with the reason), never a guessed label.
    async fn judge(&self, case: &Case, response: &Response) -> Result<Verdict, JudgeError>;
}

pub type DynJudge = Arc<dyn Judge>;
