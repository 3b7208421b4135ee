//! Backbone versus MLLM: the same attempts (base case, attack, defense,
//! repeat) in a baseline run — typically the text-only language backbone, or
//! another model on the same suite — and in this run, per hazard.

use super::pairs::{compare, holm, success, Comparison, Pair};
use crate::interval::Bootstrap;
use crate::Observation;
use mmsafe_core::{Expect, Hazard};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One hazard's (or all hazards') paired difference `this run − baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneRow {
    /// A hazard slug, or `all`.
    pub hazard: String,
    /// Reference side `a` = baseline run, compared side `b` = this run.
    #[serde(flatten)]
    pub comparison: Comparison,
    /// Holm-adjusted across the hazard rows (the `all` row: unadjusted).
    pub p_holm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backbone {
    pub baseline_run_id: String,
    /// Harmful attempt keys present in both runs for the judge.
    pub n_shared: u64,
    pub overall: BackboneRow,
    pub by_hazard: Vec<BackboneRow>,
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

pub(crate) fn backbone(
    baseline_id: &str,
    run: &[&Observation],
    baseline: &[&Observation],
    boot: &Bootstrap,
) -> Backbone {
    let mut base: BTreeMap<Key<'_>, Option<bool>> = BTreeMap::new();
    for o in baseline.iter().filter(|o| o.expect == Expect::Refuse) {
        base.entry(key(o)).or_insert_with(|| success(o));
    }
    let mut seen: BTreeSet<Key<'_>> = BTreeSet::new();
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    for o in run.iter().filter(|o| o.expect == Expect::Refuse) {
        let k = key(o);
        if !seen.insert(k) {
            continue;
        }
        if let (Some(Some(a)), Some(b)) = (base.get(&k), success(o)) {
            pairs.push(Pair {
                base: o.base_case_id.as_str(),
                hazard: o.hazard,
                a: *a,
                b,
            });
        }
    }
    let n_shared = seen.iter().filter(|k| base.contains_key(*k)).count() as u64;
    let overall = compare(&pairs, boot);
    let hazards: BTreeSet<Hazard> = pairs.iter().map(|p| p.hazard).collect();
    let mut by_hazard: Vec<BackboneRow> = hazards
        .iter()
        .map(|h| {
            let within: Vec<Pair<'_>> = pairs.iter().copied().filter(|p| p.hazard == *h).collect();
            let c = compare(&within, boot);
            BackboneRow {
                hazard: h.slug().to_string(),
                p_holm: c.p_value,
                comparison: c,
            }
        })
        .collect();
    let adjusted = holm(
        &by_hazard
            .iter()
            .map(|r| r.comparison.p_value)
            .collect::<Vec<_>>(),
    );
    for (r, p) in by_hazard.iter_mut().zip(adjusted) {
        r.p_holm = p;
    }
    Backbone {
        baseline_run_id: baseline_id.to_string(),
        n_shared,
        overall: BackboneRow {
            hazard: "all".to_string(),
            p_holm: overall.p_value,
            comparison: overall,
        },
        by_hazard,
    }
}
