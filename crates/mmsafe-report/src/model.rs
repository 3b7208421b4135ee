//! What a report shows, independent of the output format: the rows of the
//! rates table, the safety–utility table and the one-line notes.

use crate::fmt::{ms_signed, num, pct, pct_ci, pp_ci, score_ci};
use mmsafe_metrics::{HumanCalibration, LabelCounts, Rates, Summary};
use std::collections::BTreeMap;

pub const RATES_HEADER: [&str; 7] = [
    "",
    "n",
    "ASR",
    "refusal",
    "over-refusal",
    "undecided",
    "errors",
];
/// Columns of the rates table holding counts (right-aligned).
pub const RATES_RIGHT: [bool; 7] = [false, true, false, false, false, true, true];

pub fn rates_cells(name: &str, r: &Rates) -> Vec<String> {
    vec![
        name.to_string(),
        r.n.to_string(),
        pct_ci(r.asr, r.asr_ci),
        pct_ci(r.refusal_rate, r.refusal_rate_ci),
        pct_ci(r.over_refusal_rate, r.over_refusal_rate_ci),
        pct(r.undecided_rate),
        pct(r.error_rate),
    ]
}

/// One breakdown of the rates table.
pub struct Section {
    /// Title line in the terminal table (`by hazard`).
    pub title: &'static str,
    /// Name of the key column in Markdown (`hazard`).
    pub key: &'static str,
    pub rows: Vec<(String, Rates)>,
}

/// Breakdown sections of the rates table, in display order. A section that
/// would repeat the overall line (one defense, one judge) is left out.
pub fn sections(s: &Summary) -> Vec<Section> {
    let section = |title, key, m: &BTreeMap<String, Rates>| {
        let mut rows: Vec<(String, Rates)> =
            m.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        // The unattacked / undefended baseline reads best first.
        rows.sort_by_key(|(k, _)| (k != "none", k.clone()));
        Section { title, key, rows }
    };
    let mut out = vec![
        section("by hazard", "hazard", &s.by_hazard),
        section("by attack", "attack", &s.by_attack),
    ];
    if s.by_defense.len() > 1 {
        out.push(section("by defense", "defense", &s.by_defense));
    }
    if s.by_judge.len() > 1 {
        out.push(section("by judge", "judge", &s.by_judge));
    }
    out
}

pub const SU_HEADER: [&str; 10] = [
    "defense",
    "n",
    "ASR",
    "ASR reduction",
    "over-refusal",
    "over-refusal increase",
    "latency p50",
    "latency p95",
    "calls/attempt",
    "tokens/attempt",
];
pub const SU_RIGHT: [bool; 10] = [
    false, true, false, false, false, false, true, true, true, true,
];

/// Rows of the safety–utility table; empty when the run has one defense.
pub fn safety_utility_rows(s: &Summary) -> Vec<Vec<String>> {
    s.safety_utility
        .iter()
        .flatten()
        .map(|r| {
            vec![
                r.defense.clone(),
                r.attempts.to_string(),
                pct_ci(r.asr, r.asr_ci),
                pp_ci(r.asr_reduction, r.asr_reduction_ci),
                pct_ci(r.over_refusal_rate, r.over_refusal_rate_ci),
                pp_ci(r.over_refusal_increase, r.over_refusal_increase_ci),
                ms_signed(r.added_latency_p50_ms),
                ms_signed(r.added_latency_p95_ms),
                num(r.extra_calls_per_attempt, 2),
                num(r.extra_tokens_per_attempt, 1),
            ]
        })
        .collect()
}

fn counts_phrase(c: &LabelCounts) -> String {
    format!(
        "{} refused, {} complied, {} undecided, {} error",
        c.refused, c.complied, c.undecided, c.error
    )
}

/// `run R · judge J · N attempts`.
pub fn headline(s: &Summary) -> String {
    format!(
        "run {} · judge {} · {} attempts",
        s.run_id,
        s.judge.as_deref().unwrap_or("none"),
        s.attempts
    )
}

/// One-line notes under the table: counts, corrected ASR, scores, fairness,
/// context sensitivity.
pub fn notes(s: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    let h = &s.counts.expect_refuse;
    let b = &s.counts.expect_comply;
    out.push(format!(
        "harmful attempts: {} ({})",
        h.total(),
        counts_phrase(h)
    ));
    if b.total() > 0 {
        out.push(format!(
            "benign attempts: {} ({})",
            b.total(),
            counts_phrase(b)
        ));
    }
    if s.counts.target_errors > 0 || s.counts.judge_errors() > 0 {
        out.push(format!(
            "errors: {} target call(s) failed, {} judging failure(s); excluded from ASR, never counted as safe",
            s.counts.target_errors,
            s.counts.judge_errors()
        ));
    }
    if let (Some(v), Some(cal)) = (s.corrected_asr, s.calibration) {
        out.push(format!(
            "corrected ASR: {} (Rogan–Gladen, judge sensitivity {:.2}, specificity {:.2})",
            pct_ci(Some(v), s.corrected_asr_ci).trim_start(),
            cal.sensitivity,
            cal.specificity
        ));
    }
    if let Some(h) = &s.human {
        out.push(human_line(h));
    }
    if let Some(m) = s.strongreject_mean {
        out.push(format!(
            "mean harm score ({}): {}",
            s.strongreject_judge.as_deref().unwrap_or("judge"),
            score_ci(Some(m), s.strongreject_mean_ci)
        ));
    }
    if let Some(f) = &s.fairness {
        out.push(format!(
            "fairness: verdicts diverge in {} of {} counterfactual pairs: {}{}",
            f.divergent,
            f.pairs,
            pct_ci(f.rate, f.rate_ci).trim_start(),
            if f.excluded > 0 {
                format!(" ({} excluded: undecided or error)", f.excluded)
            } else {
                String::new()
            }
        ));
    }
    if let Some(c) = &s.context_sensitivity {
        out.push(format!(
            "context sensitivity: answered the safe context and refused the unsafe one in {} of {} pairs: {} (refused both {}, answered both {}, inverted {}){}",
            c.sensitive,
            c.pairs,
            pct_ci(c.rate, c.rate_ci).trim_start(),
            c.refused_both,
            c.answered_both,
            c.inverted,
            if c.excluded > 0 {
                format!("; {} excluded: undecided or error", c.excluded)
            } else {
                String::new()
            }
        ));
    }
    out
}

/// The human-calibrated figures in one line (terminal, Markdown).
pub fn human_line(h: &HumanCalibration) -> String {
    let t = |v: Option<f64>, ci| pct_ci(v, ci).trim_start().to_string();
    format!(
        "human labels: {} labelled attempt(s), {} in the random sample ({} compared with judge {}): judge accuracy {}, sensitivity {}, specificity {}; ASR raw {} → calibrated {}",
        h.n_labels,
        h.n_sample,
        h.n_compared,
        h.judge,
        t(h.judge_accuracy, h.judge_accuracy_ci),
        t(h.sensitivity, h.sensitivity_ci),
        t(h.specificity, h.specificity_ci),
        t(h.asr_raw, h.asr_raw_ci),
        t(h.asr_calibrated, h.asr_calibrated_ci),
    )
}
