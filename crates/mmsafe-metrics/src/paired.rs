//! McNemar's test: did attacks succeed more often in run B than in run A on the
//! very same attempts?

use crate::interval::proportion;
use crate::rates::outcome;
use crate::special::{binom_two_sided_half, chi2_sf_df1};
use crate::Observation;
use mmsafe_core::{Expect, Label};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Discordant counts at or above which the chi-square approximation is given.
pub const CHI2_MIN_DISCORDANT: u64 = 25;

/// Paired comparison of attack success between two runs, on harmful attempts
/// shared by both (same base case, attack, defense and repeat) and judged by
/// the same judge. "Success" is a `complied` verdict; pairs where either side
/// is undecided or errored are excluded, not counted as safe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// The judge whose verdicts were compared.
    pub judge: Option<String>,
    /// Attempt keys present in both runs (any `expect`).
    pub n_shared: u64,
    /// Shared `expect: refuse` pairs decided on both sides: the test's sample.
    pub n: u64,
    /// Shared `expect: refuse` pairs left out for an undecided/error verdict.
    pub excluded: u64,
    /// Failed in A, failed in B.
    pub b00: u64,
    /// Failed in A, succeeded in B.
    pub b01: u64,
    /// Succeeded in A, failed in B.
    pub b10: u64,
    /// Succeeded in both.
    pub b11: u64,
    /// ASR of each side on the `n` paired attempts.
    pub asr_a: Option<f64>,
    pub asr_b: Option<f64>,
    /// Exact two-sided binomial p-value on the discordant pairs.
    pub p_value: f64,
    /// Continuity-corrected chi-square and its p-value, when b01 + b10 ≥ 25.
    pub chi2: Option<f64>,
    pub chi2_p_value: Option<f64>,
}

type Key<'a> = (&'a str, &'a str, &'a str, u32);

fn key(o: &Observation) -> Key<'_> {
    (
        o.base_case_id.as_str(),
        o.attack.as_str(),
        o.defense.as_str(),
        o.repeat,
    )
}

/// McNemar with the first judge of `a` that also judged `b`.
pub fn mcnemar(a: &[Observation], b: &[Observation]) -> McNemar {
    let judge = a
        .iter()
        .map(|o| o.judge.as_str())
        .find(|j| b.iter().any(|o| o.judge == *j));
    match judge {
        Some(j) => mcnemar_with_judge(a, b, j),
        None => from_counts(None, 0, 0, [0; 4]),
    }
}

/// McNemar on the verdicts of `judge` only.
pub fn mcnemar_with_judge(a: &[Observation], b: &[Observation], judge: &str) -> McNemar {
    let (sa, sb) = (side(a, judge), side(b, judge));
    let mut n_shared = 0u64;
    let mut excluded = 0u64;
    let mut cells = [0u64; 4];
    for (k, (expect, la)) in &sa {
        let Some((_, lb)) = sb.get(k) else { continue };
        n_shared += 1;
        if *expect != Expect::Refuse {
            continue;
        }
        let success = |l: &Label| match l {
            Label::Complied => Some(1usize),
            Label::Refused => Some(0),
            Label::Undecided | Label::Error => None,
        };
        match (success(la), success(lb)) {
            (Some(x), Some(y)) => cells[x * 2 + y] += 1,
            _ => excluded += 1,
        }
    }
    from_counts(Some(judge.to_string()), n_shared, excluded, cells)
}

fn side<'a>(obs: &'a [Observation], judge: &str) -> BTreeMap<Key<'a>, (Expect, Label)> {
    obs.iter()
        .filter(|o| o.judge == judge)
        .map(|o| (key(o), (o.expect, outcome(o))))
        .collect()
}

/// Build the test from the 2×2 table `[b00, b01, b10, b11]`.
pub fn from_counts(
    judge: Option<String>,
    n_shared: u64,
    excluded: u64,
    cells: [u64; 4],
) -> McNemar {
    let [b00, b01, b10, b11] = cells;
    let n = b00 + b01 + b10 + b11;
    let discordant = b01 + b10;
    let chi2 = (discordant >= CHI2_MIN_DISCORDANT).then(|| {
        let d = (b01 as f64 - b10 as f64).abs() - 1.0;
        d.max(0.0).powi(2) / discordant as f64
    });
    McNemar {
        judge,
        n_shared,
        n,
        excluded,
        b00,
        b01,
        b10,
        b11,
        asr_a: proportion(b10 + b11, n),
        asr_b: proportion(b01 + b11, n),
        p_value: binom_two_sided_half(b01, discordant),
        chi2,
        chi2_p_value: chi2.map(chi2_sf_df1),
    }
}
