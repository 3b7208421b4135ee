//! Judge calibration: run a judge over human-labelled responses and measure its
//! agreement with the human label (accuracy, precision, recall, F1, Cohen's κ
//! with percentile-bootstrap intervals), plus the sensitivity/specificity that
//! corrected-ASR metrics need.

use crate::labels::Labeled;
use futures::StreamExt;
use mmsafe_core::{Case, DynJudge, Expect, Hazard, Label, Response, Verdict};
use serde::{Deserialize, Serialize};

/// One judged labelled item.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub human: bool,
    pub label: Label,
}

/// Positive = "complied" (harmful compliance), the same orientation as the labels.
fn predicted(label: Label) -> Option<bool> {
    match label {
        Label::Complied => Some(true),
        Label::Refused => Some(false),
        Label::Undecided | Label::Error => None,
    }
}

/// Build the case and response a judge sees for one labelled item.
pub fn as_case(item: &Labeled) -> (Case, Response) {
    let mut case = Case::text(
        item.location.clone(),
        item.request.clone(),
        Hazard::NonViolentCrimes,
        Expect::Refuse,
        "labels",
    );
    case.metadata.insert(
        "question".into(),
        serde_json::Value::String(item.request.clone()),
    );
    (case, Response::text(item.response.clone()))
}

/// Judge (case, response) pairs with up to `concurrency` judgements in
/// flight, in input order. A judge failure becomes an `error` verdict
/// carrying the reason.
pub async fn judge_pairs(
    judge: &DynJudge,
    pairs: &[(&Case, &Response)],
    concurrency: usize,
    mut on_done: impl FnMut(usize),
) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(pairs.len());
    let mut stream = futures::stream::iter(pairs.iter().map(|(case, response)| {
        let judge = judge.clone();
        async move {
            match judge.judge(case, response).await {
                Ok(v) => v,
                Err(e) => Verdict::new(judge.name(), Label::Error, e.to_string()),
            }
        }
    }))
    .buffered(concurrency.max(1));
    while let Some(v) = stream.next().await {
        out.push(v);
        on_done(out.len());
    }
    out
}

/// Judge labelled items (see [`judge_pairs`]).
pub async fn verdicts_all(
    judge: &DynJudge,
    items: &[Labeled],
    concurrency: usize,
    on_done: impl FnMut(usize),
) -> Vec<Verdict> {
    let built: Vec<(Case, Response)> = items.iter().map(as_case).collect();
    let pairs: Vec<(&Case, &Response)> = built.iter().map(|(c, r)| (c, r)).collect();
    judge_pairs(judge, &pairs, concurrency, on_done).await
}

/// [`verdicts_all`] paired with the human labels.
pub async fn judge_all(
    judge: &DynJudge,
    items: &[Labeled],
    concurrency: usize,
    on_done: impl FnMut(usize),
) -> Vec<Judged> {
    verdicts_all(judge, items, concurrency, on_done)
        .await
        .into_iter()
        .zip(items)
        .map(|(v, item)| Judged {
            human: item.positive,
            label: v.label,
        })
        .collect()
}

/// `mmsafe judge eval --json`: the metrics crate's agreement (strict figures
/// at the top level, undecided counted as wrong; the same over decided items
/// under `decided`) plus what was compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub judge: String,
    pub labels: String,
    pub format: String,
    /// What a positive label means in this file.
    pub positive: String,
    /// Items whose judgement failed (`error`), a subset of `undecided`.
    pub errors: u64,
    #[serde(flatten)]
    pub agreement: mmsafe_metrics::Agreement,
    /// Accuracy at coverage, for judges whose verdicts carry a score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_coverage: Option<crate::coverage::RiskCoverage>,
}

/// Sensitivity/specificity of a judge, saved for Rogan–Gladen corrected ASR.
/// Deserializes as `mmsafe_metrics::JudgeCalibration` (extra keys are context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub judge: String,
    pub labels: String,
    /// Decided items the figures are over.
    pub n: u64,
    pub sensitivity: f64,
    pub specificity: f64,
}

/// Compare judged items with their human labels.
pub fn evaluate(
    judge: &str,
    labels: &str,
    format: crate::labels::LabelFormat,
    judged: &[Judged],
    resamples: usize,
    seed: u64,
) -> (EvalReport, Option<Calibration>) {
    let pred: Vec<Option<bool>> = judged.iter().map(|j| predicted(j.label)).collect();
    let gold: Vec<bool> = judged.iter().map(|j| j.human).collect();
    let agreement = mmsafe_metrics::agreement(&pred, &gold, resamples, seed);
    let calibration = agreement.calibration().map(|c| Calibration {
        judge: judge.to_string(),
        labels: labels.to_string(),
        n: agreement.decided.confusion.total(),
        sensitivity: c.sensitivity,
        specificity: c.specificity,
    });
    let report = EvalReport {
        judge: judge.to_string(),
        labels: labels.to_string(),
        format: format.name().to_string(),
        positive: format.positive_means().to_string(),
        errors: judged.iter().filter(|j| j.label == Label::Error).count() as u64,
        agreement,
        risk_coverage: None,
    };
    (report, calibration)
}

/// Two judges on the same labelled rows: which rows each gets right
/// (undecided counts as wrong, as in the strict accuracy), and an exact
/// McNemar test of whether their accuracies differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeComparison {
    pub a: String,
    pub b: String,
    pub n: u64,
    pub both_right: u64,
    pub only_a_right: u64,
    pub only_b_right: u64,
    pub both_wrong: u64,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    /// Exact two-sided binomial p-value on the rows only one gets right.
    pub p_value: f64,
}

/// Compare judges `a` and `b` row by row; both must have judged the same rows
/// in the same order.
pub fn compare(a: (&str, &[Judged]), b: (&str, &[Judged])) -> JudgeComparison {
    let right = |j: &Judged| predicted(j.label) == Some(j.human);
    let mut cells = [0u64; 4];
    for (ja, jb) in a.1.iter().zip(b.1) {
        debug_assert_eq!(ja.human, jb.human, "rows out of step");
        cells[usize::from(right(ja)) * 2 + usize::from(right(jb))] += 1;
    }
    // McNemar's cells: 0 = wrong, 1 = right, for A then B.
    let test = mmsafe_metrics::mcnemar_from_counts(None, 0, 0, cells);
    let n = test.n;
    let share = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    JudgeComparison {
        a: a.0.to_string(),
        b: b.0.to_string(),
        n,
        both_right: test.b11,
        only_a_right: test.b10,
        only_b_right: test.b01,
        both_wrong: test.b00,
        accuracy_a: share(test.b10 + test.b11),
        accuracy_b: share(test.b01 + test.b11),
        p_value: test.p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelFormat;

    #[test]
    fn comparing_two_judges_counts_rows_each_gets_right() {
        let j = |human, label| Judged { human, label };
        let a = [
            j(true, Label::Complied),   // a right, b wrong
            j(true, Label::Complied),   // a right, b wrong
            j(false, Label::Refused),   // both right
            j(false, Label::Undecided), // both wrong (undecided is wrong)
        ];
        let b = [
            j(true, Label::Refused),
            j(true, Label::Error),
            j(false, Label::Refused),
            j(false, Label::Complied),
        ];
        let c = compare(("a", &a), ("b", &b));
        assert_eq!(
            (
                c.n,
                c.both_right,
                c.only_a_right,
                c.only_b_right,
                c.both_wrong
            ),
            (4, 1, 2, 0, 1)
        );
        assert_eq!((c.accuracy_a, c.accuracy_b), (0.75, 0.25));
        // Two discordant rows, both for a: p = 2 × 0.5² = 0.5.
        assert!((c.p_value - 0.5).abs() < 1e-12, "{}", c.p_value);
    }

    #[test]
    fn evaluate_counts_undecided_errors_and_saves_calibration() {
        let mut judged = Vec::new();
        for i in 0..100 {
            let human = i % 2 == 0;
            let label = match i {
                _ if i % 10 == 0 => Label::Undecided,
                _ if i % 10 == 5 => Label::Error,
                _ if i % 7 == 0 => {
                    if human {
                        Label::Refused
                    } else {
                        Label::Complied
                    }
                }
                _ if human => Label::Complied,
                _ => Label::Refused,
            };
            judged.push(Judged { human, label });
        }
        let (a, cal) = evaluate("j", "l", LabelFormat::Jsonl, &judged, 200, 7);
        let (b, _) = evaluate("j", "l", LabelFormat::Jsonl, &judged, 200, 7);
        assert_eq!(a, b);
        assert_eq!(a.agreement.undecided, 20);
        assert_eq!(a.errors, 10);
        assert_eq!(a.agreement.n, 100);
        let cal = cal.unwrap();
        assert_eq!(cal.n, 80);
        let json = serde_json::to_value(&a).unwrap();
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "kappa",
            "n",
            "undecided",
            "accuracy_ci",
            "kappa_ci",
        ] {
            assert!(json.get(k).is_some(), "missing {k}");
        }
        let back: mmsafe_metrics::JudgeCalibration =
            serde_json::from_value(serde_json::to_value(&cal).unwrap()).unwrap();
        assert_eq!(back.sensitivity, cal.sensitivity);
    }
}
