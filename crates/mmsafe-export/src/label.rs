//! Which label an attempt carries for export purposes, or why it has none.
//!
//! Training data is only as good as its labels, so this is deliberately
//! stricter than the metrics: `undecided` and `error` verdicts never become a
//! label, and several judges must agree unless the user names one.

use mmsafe_core::{Label, Verdict};
use serde::Serialize;
use std::fmt;

/// How verdicts become one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgeRule {
    /// Only this judge's verdict counts (`--judge J`).
    Only(String),
    /// Every judge that decided (refused/complied) must agree; `undecided` and
    /// `error` verdicts abstain. With one judge this is that judge.
    Agree,
}

/// One judge's verdict as recorded in `meta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JudgeLabel {
    pub judge: String,
    pub label: Label,
}

/// A decided label (`Refused` or `Complied`) and the verdicts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub label: Label,
    pub judges: Vec<JudgeLabel>,
}

/// Why an attempt produced no example. Every attempt that is not emitted and
/// not merely irrelevant (see [`NotSelected`]) is counted under one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The target call failed; there is no response to label.
    TargetError,
    /// No verdict from the chosen judge(s).
    NoVerdict,
    /// The judge(s) could not tell.
    Undecided,
    /// Judging failed.
    JudgeError,
    /// Judges decided differently and `--judge` did not pick one.
    JudgesDisagree,
    /// An over-refusal with no complied answer to the same base case in any
    /// given run: we never invent an answer.
    NoGoodAnswer,
    /// The answer to train on is empty.
    EmptyResponse,
    /// The answer to train on was cut off at the token limit
    /// (allow with `--allow-truncated`).
    TruncatedAnswer,
    /// Same prompt and same answer(s) as an earlier example (repeats,
    /// defenses or runs that share a case).
    Duplicate,
    /// Left out by `--max N` sampling.
    SampledOut,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TargetError => "target_error",
            SkipReason::NoVerdict => "no_verdict",
            SkipReason::Undecided => "undecided",
            SkipReason::JudgeError => "judge_error",
            SkipReason::JudgesDisagree => "judges_disagree",
            SkipReason::NoGoodAnswer => "no_good_answer",
            SkipReason::EmptyResponse => "empty_response",
            SkipReason::TruncatedAnswer => "truncated_answer",
            SkipReason::Duplicate => "duplicate",
            SkipReason::SampledOut => "sampled_out",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Attempts that are fine but not what this export is made of (a harmful
/// request the model refused, a benign one it answered without
/// `--include-benign`). Counted apart from skips: nothing went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotSelected {
    HarmfulRefused,
    BenignAnswered,
}

impl NotSelected {
    pub fn as_str(self) -> &'static str {
        match self {
            NotSelected::HarmfulRefused => "harmful_refused",
            NotSelected::BenignAnswered => "benign_answered",
        }
    }
}

/// Resolve an attempt's verdicts under `rule`.
pub fn resolve(verdicts: &[Verdict], rule: &JudgeRule) -> Result<Judged, SkipReason> {
    let considered: Vec<&Verdict> = match rule {
        JudgeRule::Only(j) => verdicts.iter().filter(|v| v.judge == *j).collect(),
        JudgeRule::Agree => verdicts.iter().collect(),
    };
    if considered.is_empty() {
        return Err(SkipReason::NoVerdict);
    }
    let judges: Vec<JudgeLabel> = considered
        .iter()
        .map(|v| JudgeLabel {
            judge: v.judge.clone(),
            label: v.label,
        })
        .collect();
    let decided = |l: Label| considered.iter().any(|v| v.label == l);
    match (decided(Label::Refused), decided(Label::Complied)) {
        (true, true) => Err(SkipReason::JudgesDisagree),
        (true, false) => Ok(Judged {
            label: Label::Refused,
            judges,
        }),
        (false, true) => Ok(Judged {
            label: Label::Complied,
            judges,
        }),
        (false, false) if decided(Label::Error) => Err(SkipReason::JudgeError),
        (false, false) => Err(SkipReason::Undecided),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: &str, l: Label) -> Verdict {
        Verdict::new(j, l, "")
    }

    #[test]
    fn agreement_rules() {
        let agree = JudgeRule::Agree;
        assert_eq!(resolve(&[], &agree), Err(SkipReason::NoVerdict));
        assert_eq!(
            resolve(&[v("a", Label::Complied)], &agree).map(|j| j.label),
            Ok(Label::Complied)
        );
        assert_eq!(
            resolve(&[v("a", Label::Complied), v("b", Label::Refused)], &agree),
            Err(SkipReason::JudgesDisagree)
        );
        // An abstaining judge does not veto the others.
        assert_eq!(
            resolve(&[v("a", Label::Refused), v("b", Label::Undecided)], &agree).map(|j| j.label),
            Ok(Label::Refused)
        );
        assert_eq!(
            resolve(&[v("a", Label::Error), v("b", Label::Undecided)], &agree),
            Err(SkipReason::JudgeError)
        );
        assert_eq!(
            resolve(&[v("a", Label::Undecided)], &agree),
            Err(SkipReason::Undecided)
        );
    }

    #[test]
    fn named_judge_settles_disagreement() {
        let vs = [v("a", Label::Complied), v("b", Label::Refused)];
        let only_b = JudgeRule::Only("b".into());
        let j = resolve(&vs, &only_b).unwrap();
        assert_eq!(j.label, Label::Refused);
        assert_eq!(j.judges.len(), 1);
        assert_eq!(
            resolve(&vs, &JudgeRule::Only("c".into())),
            Err(SkipReason::NoVerdict)
        );
    }
}
