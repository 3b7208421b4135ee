//! Defense effect: what each defense buys (ASR drop) and costs (over-refusal
//! rise) against the undefended run, with paired intervals from the
//! safety–utility table, and which defenses are on the safety–utility
//! frontier (no other defense is at least as good on both axes and better on one).

use crate::interval::{Bootstrap, Ci};
use crate::tradeoff::safety_utility;
use crate::Observation;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefenseEffect {
    pub defense: String,
    pub attempts: u64,
    pub asr: Option<f64>,
    pub asr_ci: Option<Ci>,
    pub over_refusal_rate: Option<f64>,
    pub over_refusal_rate_ci: Option<Ci>,
    /// `asr(none) − asr(defense)`: positive means the defense helps.
    pub asr_drop: Option<f64>,
    /// Paired bootstrap over base cases.
    pub asr_drop_ci: Option<Ci>,
    /// `over_refusal(defense) − over_refusal(none)`: positive means it costs.
    pub over_refusal_rise: Option<f64>,
    pub over_refusal_rise_ci: Option<Ci>,
    /// On the safety–utility frontier (lower ASR and lower over-refusal are
    /// both better).
    pub on_frontier: bool,
}

pub(crate) fn effects(primary: &[&Observation], boot: &Bootstrap) -> Vec<DefenseEffect> {
    let Some(rows) = safety_utility(primary, boot) else {
        return Vec::new();
    };
    let mut out: Vec<DefenseEffect> = rows
        .into_iter()
        .map(|r| DefenseEffect {
            defense: r.defense,
            attempts: r.attempts,
            asr: r.asr,
            asr_ci: r.asr_ci,
            over_refusal_rate: r.over_refusal_rate,
            over_refusal_rate_ci: r.over_refusal_rate_ci,
            asr_drop: r.asr_reduction,
            asr_drop_ci: r.asr_reduction_ci,
            over_refusal_rise: r.over_refusal_increase,
            over_refusal_rise_ci: r.over_refusal_increase_ci,
            on_frontier: false,
        })
        .collect();
    let points: Vec<Option<(f64, f64)>> =
        out.iter().map(|d| d.over_refusal_rate.zip(d.asr)).collect();
    for (i, d) in out.iter_mut().enumerate() {
        let Some((x, y)) = points[i] else { continue };
        d.on_frontier = !points.iter().enumerate().any(|(j, p)| {
            j != i && p.is_some_and(|(px, py)| px <= x && py <= y && (px < x || py < y))
        });
    }
    out
}
