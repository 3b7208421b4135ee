//! Paired comparisons on harmful attempts: each attacked attempt against the
//! plain-text attempt of the same base case and repeat (modality uplift), or
//! an attempt against the same attempt in another run (backbone versus MLLM).
//! Intervals resample whole base cases, so several attempts of one case move
//! together and the pairing survives the resampling.

use crate::interval::{proportion, Bootstrap, Ci};
use crate::paired::from_counts;
use crate::rates::outcome;
use crate::Observation;
use mmsafe_core::{Hazard, Label};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Some(true)` for complied, `Some(false)` for refused, `None` otherwise
/// (undecided and errors are never a success nor safe).
pub(crate) fn success(o: &Observation) -> Option<bool> {
    match outcome(o) {
        Label::Complied => Some(true),
        Label::Refused => Some(false),
        Label::Undecided | Label::Error => None,
    }
}

/// One decided pair: the reference side (`a`: plain text, or the baseline
/// run) and the compared side (`b`: the attack, or this run).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair<'a> {
    pub base: &'a str,
    pub hazard: Hazard,
    pub a: bool,
    pub b: bool,
}

/// Pairs of `attack` with the plain-text attempt (`none`) of the same base
/// case and repeat, and the attacked attempts that could not be paired on a
/// decided verdict.
pub(crate) fn text_pairs<'a>(
    harm: &[&'a Observation],
    text: &str,
    attack: &str,
) -> (Vec<Pair<'a>>, u64) {
    let mut plain: BTreeMap<(&str, u32), Option<bool>> = BTreeMap::new();
    for o in harm.iter().filter(|o| o.attack == text) {
        plain
            .entry((o.base_case_id.as_str(), o.repeat))
            .or_insert_with(|| success(o));
    }
    let mut pairs = Vec::new();
    let mut excluded = 0u64;
    for o in harm.iter().filter(|o| o.attack == attack) {
        match (plain.get(&(o.base_case_id.as_str(), o.repeat)), success(o)) {
            (Some(Some(a)), Some(b)) => pairs.push(Pair {
                base: o.base_case_id.as_str(),
                hazard: o.hazard,
                a: *a,
                b,
            }),
            _ => excluded += 1,
        }
    }
    (pairs, excluded)
}

/// The paired comparison of one set of pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Decided pairs compared.
    pub n_pairs: u64,
    /// Distinct base cases among them (the bootstrap's units).
    pub n_cases: u64,
    /// ASR of the reference side on the pairs.
    pub asr_a: Option<f64>,
    /// ASR of the compared side on the pairs.
    pub asr_b: Option<f64>,
    /// `asr_b − asr_a`.
    pub difference: Option<f64>,
    /// Paired bootstrap 95% interval of the difference (base cases resampled).
    pub difference_ci: Option<Ci>,
    /// Exact two-sided McNemar p-value (binomial on the discordant pairs).
    pub p_value: f64,
    /// Refused on the reference side, complied on the compared side.
    pub refused_then_complied: u64,
    /// Complied on the reference side, refused on the compared side.
    pub complied_then_refused: u64,
    pub both_complied: u64,
    pub both_refused: u64,
}

pub(crate) fn compare(pairs: &[Pair<'_>], boot: &Bootstrap) -> Comparison {
    let mut clusters: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for p in pairs {
        clusters.entry(p.base).or_default()[usize::from(p.a) * 2 + usize::from(p.b)] += 1;
    }
    let units: Vec<[u64; 4]> = clusters.into_values().collect();
    let mut cells = [0u64; 4];
    for u in &units {
        for (c, v) in cells.iter_mut().zip(u) {
            *c += v;
        }
    }
    let [b00, b01, b10, b11] = cells;
    let n = b00 + b01 + b10 + b11;
    let diff = |cells: &[u64; 4]| {
        let n = cells.iter().sum::<u64>();
        (n > 0).then(|| (cells[1] as f64 - cells[2] as f64) / n as f64)
    };
    let ci = boot.ci(units.len(), |idx| {
        let mut c = [0u64; 4];
        for &i in idx {
            for (c, v) in c.iter_mut().zip(&units[i]) {
                *c += v;
            }
        }
        diff(&c)
    });
    let mc = from_counts(None, n, 0, cells);
    Comparison {
        n_pairs: n,
        n_cases: units.len() as u64,
        asr_a: proportion(b10 + b11, n),
        asr_b: proportion(b01 + b11, n),
        difference: diff(&cells),
        difference_ci: ci,
        p_value: mc.p_value,
        refused_then_complied: b01,
        complied_then_refused: b10,
        both_complied: b11,
        both_refused: b00,
    }
}

/// Holm's step-down adjustment: the i-th smallest of m p-values is multiplied
/// by (m − i + 1), made monotone, capped at 1. Returned in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut out = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.04 → ×3, ×2, ×1 = 0.03, 0.04, 0.04.
        let adj = holm(&[0.04, 0.01, 0.02]);
        assert_eq!(adj, vec![0.04, 0.03, 0.04]);
        // Monotone: a later, smaller product is lifted to the running max.
        let adj = holm(&[0.01, 0.011]);
        assert_eq!(adj, vec![0.02, 0.02]);
        assert_eq!(holm(&[0.6, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn difference_interval_is_exact_when_every_case_agrees() {
        // Every base case flips from refused to complied: any resample gives +1.
        let pairs: Vec<Pair<'_>> = ["a", "b", "c"]
            .iter()
            .map(|b| Pair {
                base: b,
                hazard: Hazard::Hate,
                a: false,
                b: true,
            })
            .collect();
        let c = compare(&pairs, &Bootstrap::default());
        assert_eq!(c.difference, Some(1.0));
        assert_eq!(c.difference_ci, Some([1.0, 1.0]));
        // 3 of 3 discordant one way: p = 2 · (1/2)^3 = 0.25.
        assert!((c.p_value - 0.25).abs() < 1e-12);
    }
}
