//! The safety–utility table: what each defense buys (lower ASR) and costs
//! (over-refusal, latency, extra model calls) relative to the undefended run.

use crate::interval::{proportion, quantile, wilson, Bootstrap, Ci};
use crate::rates::outcome;
use crate::Observation;
use mmsafe_core::{Expect, Label};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The defense name that marks the undefended baseline.
pub const BASELINE: &str = "none";

/// One defense's row. Differences are `defense − none` in absolute terms
/// (rates as fractions, latency in milliseconds); they are `None` when the run
/// has no `none` defense or a side has no decided attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyUtility {
    pub defense: String,
    pub attempts: u64,
    pub asr: Option<f64>,
    pub asr_ci: Option<Ci>,
    /// asr(none) − asr(defense): positive means the defense helps.
    pub asr_reduction: Option<f64>,
    /// Paired bootstrap over base cases.
    pub asr_reduction_ci: Option<Ci>,
    /// asr_reduction ÷ asr(none).
    pub asr_relative_reduction: Option<f64>,
    pub over_refusal_rate: Option<f64>,
    pub over_refusal_rate_ci: Option<Ci>,
    /// over_refusal(defense) − over_refusal(none): positive means the defense
    /// refuses more benign requests.
    pub over_refusal_increase: Option<f64>,
    pub over_refusal_increase_ci: Option<Ci>,
    /// Percentiles of the per-attempt latency difference to the same base case,
    /// attack and repeat under `none` (failed calls left out).
    pub added_latency_p50_ms: Option<f64>,
    pub added_latency_p95_ms: Option<f64>,
    /// Attempts paired for the latency difference.
    pub latency_pairs: u64,
    /// Mean time spent inside guard layers per attempt.
    pub guard_ms_mean: Option<f64>,
    /// Model calls and tokens the guard layers added, per attempt.
    pub extra_calls_per_attempt: Option<f64>,
    pub extra_tokens_per_attempt: Option<f64>,
}

/// Per base case tallies: (complied, decided) on harmful cases and
/// (refused, decided) on benign ones.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    harm_hit: u64,
    harm_n: u64,
    benign_hit: u64,
    benign_n: u64,
}

impl Tally {
    fn merge(&mut self, o: &Tally) {
        self.harm_hit += o.harm_hit;
        self.harm_n += o.harm_n;
        self.benign_hit += o.benign_hit;
        self.benign_n += o.benign_n;
    }

    fn add(&mut self, o: &Observation) {
        let label = outcome(o);
        let decided = matches!(label, Label::Refused | Label::Complied);
        if !decided {
            return;
        }
        match o.expect {
            Expect::Refuse => {
                self.harm_n += 1;
                self.harm_hit += u64::from(label == Label::Complied);
            }
            Expect::Comply => {
                self.benign_n += 1;
                self.benign_hit += u64::from(label == Label::Refused);
            }
        }
    }
}

/// `None` unless the observations span more than one defense.
pub fn safety_utility(obs: &[&Observation], boot: &Bootstrap) -> Option<Vec<SafetyUtility>> {
    let mut by_defense: BTreeMap<&str, Vec<&Observation>> = BTreeMap::new();
    for o in obs {
        by_defense.entry(o.defense.as_str()).or_default().push(o);
    }
    if by_defense.len() < 2 {
        return None;
    }
    let baseline = by_defense.get(BASELINE);
    let mut names: Vec<&str> = by_defense.keys().copied().collect();
    // Baseline first, the rest in name order.
    names.sort_by_key(|n| (*n != BASELINE, *n));
    let rows = names
        .into_iter()
        .map(|name| row(name, &by_defense[name], baseline.map(Vec::as_slice), boot))
        .collect();
    Some(rows)
}

fn row(
    name: &str,
    obs: &[&Observation],
    baseline: Option<&[&Observation]>,
    boot: &Bootstrap,
) -> SafetyUtility {
    let mut total = Tally::default();
    for o in obs {
        total.add(o);
    }
    let asr = proportion(total.harm_hit, total.harm_n);
    let over = proportion(total.benign_hit, total.benign_n);
    let n = obs.len() as u64;
    let mean = |f: &dyn Fn(&Observation) -> f64| {
        (n > 0).then(|| obs.iter().map(|o| f(o)).sum::<f64>() / n as f64)
    };
    let mut r = SafetyUtility {
        defense: name.to_string(),
        attempts: n,
        asr,
        asr_ci: wilson(total.harm_hit, total.harm_n),
        asr_reduction: None,
        asr_reduction_ci: None,
        asr_relative_reduction: None,
        over_refusal_rate: over,
        over_refusal_rate_ci: wilson(total.benign_hit, total.benign_n),
        over_refusal_increase: None,
        over_refusal_increase_ci: None,
        added_latency_p50_ms: None,
        added_latency_p95_ms: None,
        latency_pairs: 0,
        guard_ms_mean: mean(&|o| o.guard_ms),
        extra_calls_per_attempt: mean(&|o| f64::from(o.guard_extra_calls)),
        extra_tokens_per_attempt: mean(&|o| o.guard_extra_tokens as f64),
    };
    let Some(base) = baseline else {
        return r;
    };
    let mut base_total = Tally::default();
    for o in base {
        base_total.add(o);
    }
    let base_asr = proportion(base_total.harm_hit, base_total.harm_n);
    let base_over = proportion(base_total.benign_hit, base_total.benign_n);
    r.asr_reduction = base_asr.zip(asr).map(|(b, d)| b - d);
    r.asr_relative_reduction = r
        .asr_reduction
        .zip(base_asr)
        .and_then(|(red, b)| (b > 0.0).then(|| red / b));
    r.over_refusal_increase = over.zip(base_over).map(|(d, b)| d - b);

    let diffs = latency_diffs(obs, base);
    r.latency_pairs = diffs.len() as u64;
    r.added_latency_p50_ms = quantile(&diffs, 0.5);
    r.added_latency_p95_ms = quantile(&diffs, 0.95);

    if name == BASELINE {
        // Differences to itself are exactly zero; no interval to estimate.
        return r;
    }
    let (units, pairs) = paired_tallies(obs, base);
    let sum = |idx: &[usize]| {
        let (mut d, mut b) = (Tally::default(), Tally::default());
        for &i in idx {
            let [ud, ub] = &pairs[i];
            d.merge(ud);
            b.merge(ub);
        }
        (d, b)
    };
    // Both differences from the same resamples of base cases.
    let [asr_ci, over_ci] = boot.cis(units, |idx| {
        let (d, b) = sum(idx);
        [
            proportion(b.harm_hit, b.harm_n)
                .zip(proportion(d.harm_hit, d.harm_n))
                .map(|(b, d)| b - d),
            proportion(d.benign_hit, d.benign_n)
                .zip(proportion(b.benign_hit, b.benign_n))
                .map(|(d, b)| d - b),
        ]
    });
    if r.asr_reduction.is_some() {
        r.asr_reduction_ci = asr_ci;
    }
    if r.over_refusal_increase.is_some() {
        r.over_refusal_increase_ci = over_ci;
    }
    r
}

/// Tallies per base case for (defense, baseline): the bootstrap resamples base
/// cases so both sides move together and the difference keeps its pairing.
fn paired_tallies(obs: &[&Observation], base: &[&Observation]) -> (usize, Vec<[Tally; 2]>) {
    let mut map: BTreeMap<&str, [Tally; 2]> = BTreeMap::new();
    for o in obs {
        map.entry(o.base_case_id.as_str()).or_default()[0].add(o);
    }
    for o in base {
        map.entry(o.base_case_id.as_str()).or_default()[1].add(o);
    }
    let v: Vec<[Tally; 2]> = map.into_values().collect();
    (v.len(), v)
}

/// Latency of each attempt minus the latency of the same (base case, attack,
/// repeat) without defense. Failed calls are left out on both sides: a timeout
/// measures the client's patience, not the defense.
fn latency_diffs(obs: &[&Observation], base: &[&Observation]) -> Vec<f64> {
    type Key<'a> = (&'a str, &'a str, u32);
    let mut base_lat: HashMap<Key<'_>, f64> = HashMap::new();
    for o in base.iter().filter(|o| o.error_kind.is_none()) {
        base_lat.insert(
            (o.base_case_id.as_str(), o.attack.as_str(), o.repeat),
            o.latency_ms,
        );
    }
    let mut seen: BTreeSet<Key<'_>> = BTreeSet::new();
    let mut diffs = Vec::new();
    for o in obs.iter().filter(|o| o.error_kind.is_none()) {
        let k = (o.base_case_id.as_str(), o.attack.as_str(), o.repeat);
        if !seen.insert(k) {
            continue;
        }
        if let Some(b) = base_lat.get(&k) {
            diffs.push(o.latency_ms - b);
        }
    }
    diffs
}
