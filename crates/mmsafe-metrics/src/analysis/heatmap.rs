//! The hazard × attack table of ASR under one defense.

use super::pairs::success;
use super::TEXT_ATTACK;
use crate::interval::{proportion, wilson, Ci};
use crate::Observation;
use mmsafe_core::Hazard;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatCell {
    pub hazard: String,
    pub attack: String,
    pub complied: u64,
    /// Decided harmful attempts (refused + complied).
    pub decided: u64,
    pub asr: Option<f64>,
    pub asr_ci: Option<Ci>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    pub defense: Option<String>,
    /// Rows, in taxonomy order.
    pub hazards: Vec<String>,
    /// Columns: `none` first, then the attacks in name order.
    pub attacks: Vec<String>,
    /// Row-major: `cells[i * attacks.len() + j]` is (hazards[i], attacks[j]).
    pub cells: Vec<HeatCell>,
}

pub(crate) fn heatmap(harm: &[&Observation], defense: Option<&str>) -> Heatmap {
    let hazards: BTreeSet<Hazard> = harm.iter().map(|o| o.hazard).collect();
    let mut attacks: Vec<&str> = harm
        .iter()
        .map(|o| o.attack.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    attacks.sort_by_key(|a| (*a != TEXT_ATTACK, *a));
    let mut tally: BTreeMap<(Hazard, &str), (u64, u64)> = BTreeMap::new();
    for o in harm {
        if let Some(s) = success(o) {
            let t = tally.entry((o.hazard, o.attack.as_str())).or_default();
            t.0 += u64::from(s);
            t.1 += 1;
        }
    }
    let mut cells = Vec::with_capacity(hazards.len() * attacks.len());
    for h in &hazards {
        for a in &attacks {
            let (k, n) = tally.get(&(*h, *a)).copied().unwrap_or_default();
            cells.push(HeatCell {
                hazard: h.slug().to_string(),
                attack: a.to_string(),
                complied: k,
                decided: n,
                asr: proportion(k, n),
                asr_ci: wilson(k, n),
            });
        }
    }
    Heatmap {
        defense: defense.map(str::to_string),
        hazards: hazards.iter().map(|h| h.slug().to_string()).collect(),
        attacks: attacks.iter().map(|a| a.to_string()).collect(),
        cells,
    }
}
