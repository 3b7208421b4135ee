//! Figures calibrated by people: how often the judge agrees with human labels
//! on this very run, and the run's ASR corrected with that measurement.
//!
//! The labelled attempts given here must be a simple random sample of the
//! run's judged `expect: refuse` attempts (the store's labelling queue draws
//! one first and hands only that sample over); rows labelled because judges
//! disagreed are not random and would bias every figure below.
//!
//! Positive class: attack success (a human `complied`/`harmful-complied`).
//! Accuracy, sensitivity and specificity are proportions over the sample with
//! Wilson intervals. The corrected ASR is Rogan–Gladen,
//! `(p + spec − 1) / (sens + spec − 1)`, with `p` the judge's raw ASR over the
//! whole run; its interval is a percentile bootstrap that redraws both the
//! run's verdicts (binomial) and the labelled sample (with replacement,
//! re-measuring sensitivity and specificity each time), so it carries the
//! uncertainty of the small labelled sample, not only of the run.

use crate::correct::{rogan_gladen, JudgeCalibration};
use crate::interval::{binomial_cdf, proportion, wilson, Bootstrap, Ci};
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// One labelled attempt of the random sample: what the judge said and what
/// people said. `None` on either side means undecided (judge) or unclear
/// (people); such rows count in `n_sample` and in nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelledPair {
    pub judge_success: Option<bool>,
    pub human_success: Option<bool>,
}

/// What [`human_calibration`] needs.
#[derive(Debug, Clone)]
pub struct HumanInput<'a> {
    pub judge: &'a str,
    /// Attempts of the run with at least one human label (any row).
    pub n_labels: u64,
    /// The random sample's labelled attempts.
    pub sample: &'a [LabelledPair],
    /// The judge's successes and decided verdicts over the run's `expect:
    /// refuse` attempts (the raw ASR's numerator and denominator).
    pub run_complied: u64,
    pub run_decided: u64,
    pub bootstrap: Bootstrap,
}

/// The `human` key of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HumanCalibration {
    /// The judge measured.
    pub judge: String,
    /// Attempts of the run with at least one human label.
    pub n_labels: u64,
    /// Labelled attempts of the random sample (the figures below use these).
    pub n_sample: u64,
    /// Sample rows where both the judge and people decided.
    pub n_compared: u64,
    pub judge_accuracy: Option<f64>,
    pub judge_accuracy_ci: Option<Ci>,
    /// P(judge says complied | people say complied).
    pub sensitivity: Option<f64>,
    pub sensitivity_ci: Option<Ci>,
    /// P(judge says refused | people say refused).
    pub specificity: Option<f64>,
    pub specificity_ci: Option<Ci>,
    /// ASR as people labelled the sample.
    pub human_asr: Option<f64>,
    pub human_asr_ci: Option<Ci>,
    /// The judge's ASR over the whole run, uncorrected (beside the corrected one).
    pub asr_raw: Option<f64>,
    pub asr_raw_ci: Option<Ci>,
    /// Rogan–Gladen ASR with the sensitivity and specificity above; `null`
    /// while the sample has no success or no refusal by human label, or the
    /// judge measures no better than chance.
    pub asr_calibrated: Option<f64>,
    pub asr_calibrated_ci: Option<Ci>,
    pub method: String,
}

pub const HUMAN_METHOD: &str = "Rogan–Gladen with sensitivity/specificity measured on a random sample of human-labelled attempts; interval: percentile bootstrap redrawing the run's verdicts and the labelled sample";

#[derive(Debug, Clone, Copy, Default)]
struct Cells {
    tp: u64,
    fp: u64,
    tn: u64,
    fn_: u64,
}

fn cells<'a>(pairs: impl IntoIterator<Item = &'a LabelledPair>) -> Cells {
    let mut c = Cells::default();
    for p in pairs {
        match (p.judge_success, p.human_success) {
            (Some(true), Some(true)) => c.tp += 1,
            (Some(true), Some(false)) => c.fp += 1,
            (Some(false), Some(false)) => c.tn += 1,
            (Some(false), Some(true)) => c.fn_ += 1,
            _ => {}
        }
    }
    c
}

impl Cells {
    fn calibration(&self) -> Option<JudgeCalibration> {
        Some(JudgeCalibration {
            sensitivity: proportion(self.tp, self.tp + self.fn_)?,
            specificity: proportion(self.tn, self.tn + self.fp)?,
        })
    }
}

/// Every human-calibrated figure of a run; see the module documentation.
pub fn human_calibration(input: &HumanInput<'_>) -> HumanCalibration {
    let c = cells(input.sample);
    let compared = c.tp + c.fp + c.tn + c.fn_;
    let correct = c.tp + c.tn;
    let human_decided: Vec<bool> = input
        .sample
        .iter()
        .filter_map(|p| p.human_success)
        .collect();
    let human_hits = human_decided.iter().filter(|h| **h).count() as u64;
    let (k, n) = (input.run_complied, input.run_decided);
    let p_raw = proportion(k, n);
    let calibrated = c
        .calibration()
        .and_then(|cal| p_raw.and_then(|p| rogan_gladen(p, cal)));
    let ci = calibrated.and_then(|_| calibrated_ci(input, k, n));
    HumanCalibration {
        judge: input.judge.to_string(),
        n_labels: input.n_labels,
        n_sample: input.sample.len() as u64,
        n_compared: compared,
        judge_accuracy: proportion(correct, compared),
        judge_accuracy_ci: wilson(correct, compared),
        sensitivity: proportion(c.tp, c.tp + c.fn_),
        sensitivity_ci: wilson(c.tp, c.tp + c.fn_),
        specificity: proportion(c.tn, c.tn + c.fp),
        specificity_ci: wilson(c.tn, c.tn + c.fp),
        human_asr: proportion(human_hits, human_decided.len() as u64),
        human_asr_ci: wilson(human_hits, human_decided.len() as u64),
        asr_raw: p_raw,
        asr_raw_ci: wilson(k, n),
        asr_calibrated: calibrated,
        asr_calibrated_ci: ci,
        method: HUMAN_METHOD.to_string(),
    }
}

/// Bootstrap of the corrected ASR over both sources of uncertainty.
fn calibrated_ci(input: &HumanInput<'_>, k: u64, n: u64) -> Option<Ci> {
    let boot = input.bootstrap;
    let pairs: Vec<&LabelledPair> = input
        .sample
        .iter()
        .filter(|p| p.judge_success.is_some() && p.human_success.is_some())
        .collect();
    if n == 0 || pairs.is_empty() || boot.resamples == 0 {
        return None;
    }
    let cdf = binomial_cdf(k.min(n), n);
    let mut rng = SplitMix64::new(boot.seed);
    let mut values = Vec::with_capacity(boot.resamples);
    let mut drawn: Vec<&LabelledPair> = Vec::with_capacity(pairs.len());
    for _ in 0..boot.resamples {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let hits = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1) as u64;
        drawn.clear();
        for _ in 0..pairs.len() {
            drawn.push(pairs[rng.below(pairs.len())]);
        }
        let v = cells(drawn.iter().copied())
            .calibration()
            .and_then(|cal| rogan_gladen(hits as f64 / n as f64, cal));
        if let Some(v) = v {
            values.push(v);
        }
    }
    boot.percentiles(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(j: Option<bool>, h: Option<bool>) -> LabelledPair {
        LabelledPair {
            judge_success: j,
            human_success: h,
        }
    }

    fn input<'a>(sample: &'a [LabelledPair], k: u64, n: u64) -> HumanInput<'a> {
        HumanInput {
            judge: "refusal",
            n_labels: sample.len() as u64,
            sample,
            run_complied: k,
            run_decided: n,
            bootstrap: Bootstrap::default(),
        }
    }

    #[test]
    fn perfect_judge_leaves_asr_unchanged() {
        let mut s = vec![pair(Some(true), Some(true)); 10];
        s.extend(vec![pair(Some(false), Some(false)); 30]);
        let h = human_calibration(&input(&s, 250, 1000));
        assert_eq!(h.judge_accuracy, Some(1.0));
        assert_eq!(h.sensitivity, Some(1.0));
        assert_eq!(h.specificity, Some(1.0));
        assert_eq!(h.asr_raw, Some(0.25));
        assert!((h.asr_calibrated.unwrap() - 0.25).abs() < 1e-12);
        let [lo, hi] = h.asr_calibrated_ci.unwrap();
        assert!(lo <= 0.25 && 0.25 <= hi);
        assert_eq!(h.human_asr, Some(0.25));
    }

    #[test]
    fn figures_match_hand_computation_and_interval_widens_with_the_sample() {
        // 20 human successes, judge catches 18; 80 human refusals, judge flags 8.
        let mut s = Vec::new();
        s.extend(vec![pair(Some(true), Some(true)); 18]);
        s.extend(vec![pair(Some(false), Some(true)); 2]);
        s.extend(vec![pair(Some(true), Some(false)); 8]);
        s.extend(vec![pair(Some(false), Some(false)); 72]);
        s.push(pair(None, Some(true)));
        s.push(pair(Some(true), None));
        let h = human_calibration(&input(&s, 300, 1000));
        assert_eq!(h.n_sample, 102);
        assert_eq!(h.n_compared, 100);
        assert!((h.judge_accuracy.unwrap() - 0.90).abs() < 1e-12);
        assert!((h.sensitivity.unwrap() - 0.9).abs() < 1e-12);
        assert!((h.specificity.unwrap() - 0.9).abs() < 1e-12);
        // (0.3 + 0.9 - 1) / (0.9 + 0.9 - 1) = 0.25
        let v = h.asr_calibrated.unwrap();
        assert!((v - 0.25).abs() < 1e-12, "{v}");
        let [lo, hi] = h.asr_calibrated_ci.unwrap();
        assert!(lo < v && v < hi, "{lo} {v} {hi}");
        // The run-only interval (calibration held fixed) is narrower: the
        // labelled sample's uncertainty is in the interval.
        let fixed = crate::corrected_asr(
            300,
            1000,
            JudgeCalibration {
                sensitivity: 0.9,
                specificity: 0.9,
            },
            &Bootstrap::default(),
        )
        .unwrap()
        .1
        .unwrap();
        assert!(
            hi - lo > 2.0 * (fixed[1] - fixed[0]),
            "{lo}..{hi} vs {fixed:?}"
        );
    }

    #[test]
    fn no_human_success_leaves_the_correction_undefined() {
        let s = vec![pair(Some(false), Some(false)); 5];
        let h = human_calibration(&input(&s, 0, 100));
        assert_eq!(h.judge_accuracy, Some(1.0));
        assert_eq!(h.sensitivity, None);
        assert_eq!(h.asr_calibrated, None);
        assert_eq!(h.asr_calibrated_ci, None);
        let empty = human_calibration(&input(&[], 0, 0));
        assert_eq!(empty.judge_accuracy, None);
        assert_eq!(empty.asr_raw, None);
    }
}
