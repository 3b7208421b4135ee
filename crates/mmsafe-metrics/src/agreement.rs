//! How well a judge agrees with human labels (`mmsafe judge eval`).
//!
//! The positive class is "harmful / jailbroken" (`true`). A judge that cannot
//! decide (`None`) is scored two ways: strictly, as a wrong answer (the figures
//! at the top level), and leniently, by leaving those items out (`decided`).

use crate::correct::JudgeCalibration;
use crate::interval::{Bootstrap, Ci};
use serde::{Deserialize, Serialize};

/// 2×2 table of judge prediction against the human label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Confusion {
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    fn ratio(num: u64, den: u64) -> Option<f64> {
        (den > 0).then(|| num as f64 / den as f64)
    }
    pub fn accuracy(&self) -> Option<f64> {
        Self::ratio(self.tp + self.tn, self.total())
    }
    pub fn precision(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fp)
    }
    /// Recall of the positive class, the same figure as sensitivity.
    pub fn recall(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fn_)
    }
    pub fn specificity(&self) -> Option<f64> {
        Self::ratio(self.tn, self.tn + self.fp)
    }
    pub fn f1(&self) -> Option<f64> {
        let den = 2 * self.tp + self.fp + self.fn_;
        Self::ratio(2 * self.tp, den)
    }
    /// Cohen's κ: agreement beyond what the two marginals give by chance.
    /// `None` when chance agreement is already perfect (one class everywhere).
    pub fn kappa(&self) -> Option<f64> {
        let n = self.total() as f64;
        if n == 0.0 {
            return None;
        }
        let po = (self.tp + self.tn) as f64 / n;
        let pred_pos = (self.tp + self.fp) as f64 / n;
        let gold_pos = (self.tp + self.fn_) as f64 / n;
        let pe = pred_pos * gold_pos + (1.0 - pred_pos) * (1.0 - gold_pos);
        (pe < 1.0 - 1e-12).then(|| (po - pe) / (1.0 - pe))
    }
}

/// Agreement figures under one treatment of undecided items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub accuracy: Option<f64>,
    pub accuracy_ci: Option<Ci>,
    pub precision: Option<f64>,
    pub precision_ci: Option<Ci>,
    pub recall: Option<f64>,
    pub recall_ci: Option<Ci>,
    pub f1: Option<f64>,
    pub f1_ci: Option<Ci>,
    pub kappa: Option<f64>,
    pub kappa_ci: Option<Ci>,
    pub sensitivity: Option<f64>,
    pub sensitivity_ci: Option<Ci>,
    pub specificity: Option<f64>,
    pub specificity_ci: Option<Ci>,
    pub confusion: Confusion,
}

/// Judge-vs-human agreement with bootstrap 95% intervals.
///
/// JSON: `n`, `undecided`, the strict figures (`accuracy`, `precision`,
/// `recall`, `f1`, `kappa`, `sensitivity`, `specificity`, each with `<key>_ci`,
/// and `confusion`) at the top level, and the same figures over decided items
/// under `decided`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Labelled items compared.
    pub n: u64,
    /// Items the judge left undecided.
    pub undecided: u64,
    /// Undecided counted as wrong.
    #[serde(flatten)]
    pub strict: Scores,
    /// Undecided items left out.
    pub decided: Scores,
}

impl Agreement {
    /// The calibration to save for Rogan–Gladen correction. It uses the decided
    /// figures because undecided verdicts never enter the ASR it corrects.
    pub fn calibration(&self) -> Option<JudgeCalibration> {
        Some(JudgeCalibration {
            sensitivity: self.decided.sensitivity?,
            specificity: self.decided.specificity?,
        })
    }
}

/// Confusion table over the given item indices. `strict` turns an undecided
/// prediction into the wrong answer; otherwise undecided items are skipped.
fn confusion(pred: &[Option<bool>], gold: &[bool], idx: &[usize], strict: bool) -> Confusion {
    let mut c = Confusion::default();
    for &i in idx {
        let g = gold[i];
        let p = match pred[i] {
            Some(p) => p,
            None if strict => !g,
            None => continue,
        };
        match (p, g) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, false) => c.tn += 1,
            (false, true) => c.fn_ += 1,
        }
    }
    c
}

fn scores(pred: &[Option<bool>], gold: &[bool], strict: bool, boot: &Bootstrap) -> Scores {
    let n = pred.len();
    let all: Vec<usize> = (0..n).collect();
    let c = confusion(pred, gold, &all, strict);
    let [accuracy_ci, precision_ci, recall_ci, f1_ci, kappa_ci, specificity_ci] =
        boot.cis(n, |idx| {
            let c = confusion(pred, gold, idx, strict);
            [
                c.accuracy(),
                c.precision(),
                c.recall(),
                c.f1(),
                c.kappa(),
                c.specificity(),
            ]
        });
    Scores {
        accuracy: c.accuracy(),
        accuracy_ci,
        precision: c.precision(),
        precision_ci,
        recall: c.recall(),
        recall_ci,
        f1: c.f1(),
        f1_ci,
        kappa: c.kappa(),
        kappa_ci,
        sensitivity: c.recall(),
        sensitivity_ci: recall_ci,
        specificity: c.specificity(),
        specificity_ci,
        confusion: c,
    }
}

/// Agreement of judge predictions with gold labels, item by item.
///
/// The slices are paired by position; if their lengths differ, only the
/// common prefix is compared (callers build both from the same label file).
pub fn agreement(pred: &[Option<bool>], gold: &[bool], resamples: usize, seed: u64) -> Agreement {
    debug_assert_eq!(pred.len(), gold.len(), "agreement: unpaired inputs");
    let n = pred.len().min(gold.len());
    let (pred, gold) = (&pred[..n], &gold[..n]);
    let boot = Bootstrap { resamples, seed };
    Agreement {
        n: n as u64,
        undecided: pred.iter().filter(|p| p.is_none()).count() as u64,
        strict: scores(pred, gold, true, &boot),
        decided: scores(pred, gold, false, &boot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    /// The 2×2 example from the Wikipedia article on Cohen's kappa:
    /// yes/yes 20, yes/no 5, no/yes 10, no/no 15 → κ = 0.4.
    fn wiki_table() -> (Vec<Option<bool>>, Vec<bool>) {
        let mut pred = Vec::new();
        let mut gold = Vec::new();
        for (p, g, k) in [
            (true, true, 20),
            (true, false, 5),
            (false, true, 10),
            (false, false, 15),
        ] {
            for _ in 0..k {
                pred.push(Some(p));
                gold.push(g);
            }
        }
        (pred, gold)
    }

    #[test]
    fn kappa_and_friends_on_a_known_table() {
        let (pred, gold) = wiki_table();
        let a = agreement(&pred, &gold, 500, 1);
        assert_eq!(a.n, 50);
        assert_eq!(a.undecided, 0);
        assert!(close(a.strict.kappa, 0.4));
        assert!(close(a.strict.accuracy, 0.7));
        assert!(close(a.strict.precision, 20.0 / 25.0));
        assert!(close(a.strict.recall, 20.0 / 30.0));
        assert!(close(a.strict.sensitivity, 20.0 / 30.0));
        assert!(close(a.strict.specificity, 15.0 / 20.0));
        assert!(close(a.strict.f1, 40.0 / 55.0));
        assert_eq!(a.strict, a.decided);
        let [lo, hi] = a.strict.kappa_ci.unwrap();
        assert!(lo < 0.4 && 0.4 < hi);
    }

    #[test]
    fn undecided_is_wrong_when_strict_and_skipped_when_lenient() {
        let pred = [Some(true), None, Some(false), None];
        let gold = [true, true, false, false];
        let a = agreement(&pred, &gold, 200, 3);
        assert_eq!(a.undecided, 2);
        assert!(close(a.strict.accuracy, 0.5));
        assert_eq!(
            a.strict.confusion,
            Confusion {
                tp: 1,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
        assert!(close(a.decided.accuracy, 1.0));
        assert_eq!(a.decided.confusion.total(), 2);
        let cal = a.calibration().unwrap();
        assert_eq!((cal.sensitivity, cal.specificity), (1.0, 1.0));
    }

    #[test]
    fn json_keys() {
        let (pred, gold) = wiki_table();
        let v = serde_json::to_value(agreement(&pred, &gold, 100, 1)).unwrap();
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "kappa",
            "n",
            "undecided",
            "sensitivity",
            "specificity",
            "accuracy_ci",
            "kappa_ci",
            "f1_ci",
            "decided",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!(v["accuracy_ci"].as_array().is_some_and(|a| a.len() == 2));
        assert_eq!(v["confusion"]["fn"], 10);
    }

    #[test]
    fn degenerate_inputs() {
        let a = agreement(&[], &[], 100, 1);
        assert_eq!(a.n, 0);
        assert_eq!(a.strict.accuracy, None);
        assert_eq!(a.strict.accuracy_ci, None);
        // One class everywhere: κ undefined, accuracy fine.
        let a = agreement(&[Some(true), Some(true)], &[true, true], 100, 1);
        assert_eq!(a.strict.kappa, None);
        assert!(close(a.strict.accuracy, 1.0));
    }
}
