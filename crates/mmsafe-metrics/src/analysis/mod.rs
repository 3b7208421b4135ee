//! `analyze`: why a model is unsafe. From one run's observations (and, for
//! the backbone comparison, a baseline run's), plus what each case's
//! provenance says about its image:
//!
//! - **modality uplift**: each attack against the same base case as plain
//!   text (`none`), paired; difference with a paired bootstrap interval, exact
//!   McNemar p-value, Holm-corrected across attacks; per hazard too;
//! - **backbone versus MLLM**: per hazard, the paired difference to the
//!   baseline run on the attempts both runs share;
//! - **reliance**: image attacks' ASR split by OCR readability and by
//!   rendering parameters;
//! - **defense effect**: per defense, ASR drop and over-refusal rise with
//!   paired intervals, and which defenses are on the safety–utility frontier;
//! - **ranking**: attacks by uplift, cases that break under every attack,
//!   hazards whose refusals are most brittle.
//!
//! Uplift, heat map, reliance and ranking are measured under one defense
//! ([`Analysis::defense`]: `none` when the run has it), so a guard's blocks
//! are not read as the model's own refusals. Pure: no IO.

mod backbone;
mod defense;
mod facts;
mod heatmap;
mod pairs;
mod ranking;
mod reliance;

pub use backbone::{Backbone, BackboneRow};
pub use defense::DefenseEffect;
pub use facts::{CaseFacts, FactsMap, READABLE};
pub use heatmap::{HeatCell, Heatmap};
pub use pairs::{holm, Comparison};
pub use ranking::{Brittle, BrokenCase, RankedAttack, Ranking};
pub use reliance::{CurvePoint, Group, Reliance, CURVE_BINS};

use crate::interval::{Bootstrap, Ci};
use crate::Observation;
use mmsafe_core::{Expect, Hazard};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The attack name of the plain-text case every uplift is paired against.
pub const TEXT_ATTACK: &str = "none";

/// What [`analyze`] reads.
#[derive(Debug, Clone)]
pub struct AnalysisInput<'a> {
    pub run_id: &'a str,
    /// Judge whose verdicts are analysed; default: the first judge seen.
    pub judge: Option<&'a str>,
    pub observations: &'a [Observation],
    /// Facts of the run's cases by (attack, case id).
    pub facts: &'a FactsMap,
    /// A baseline run (e.g. the text-only backbone) on the same suite.
    pub baseline: Option<(&'a str, &'a [Observation])>,
    pub bootstrap: Bootstrap,
}

/// Resamples and seed behind every bootstrap interval of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapInfo {
    pub resamples: usize,
    pub seed: u64,
}

/// The modality uplift of one attack (over all hazards or within one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uplift {
    pub attack: String,
    /// Whether the attack's cases carry images.
    pub image: bool,
    /// Decided (plain text, attacked) pairs of the same base case and repeat.
    pub n_pairs: u64,
    /// Distinct base cases among the pairs.
    pub n_cases: u64,
    /// Attacked attempts without a decided pair (either side undecided,
    /// errored, or no plain-text attempt).
    pub excluded: u64,
    /// ASR of the plain-text side on the pairs.
    pub asr_text: Option<f64>,
    /// ASR of the attacked side on the pairs.
    pub asr_attack: Option<f64>,
    /// `asr_attack − asr_text`.
    pub uplift: Option<f64>,
    /// Paired bootstrap 95% interval (base cases resampled).
    pub uplift_ci: Option<Ci>,
    /// Exact two-sided McNemar p-value.
    pub p_value: f64,
    /// Holm-adjusted across the attacks of the same table.
    pub p_holm: f64,
    /// Refused as text, complied when attacked.
    pub refused_text_complied_attack: u64,
    /// Complied as text, refused when attacked.
    pub complied_text_refused_attack: u64,
    pub both_complied: u64,
    pub both_refused: u64,
}

/// Per-attack uplift within one hazard (Holm across that hazard's attacks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardUplift {
    pub hazard: String,
    pub attacks: Vec<Uplift>,
}

/// Everything `mmsafe analyze` prints; serialized as `analyze --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub run_id: String,
    /// Judge whose verdicts were analysed.
    pub judge: Option<String>,
    /// The plain-text attack uplift is paired against (`none`).
    pub text_attack: String,
    /// Defense under which uplift, heat map, reliance and ranking are measured.
    pub defense: Option<String>,
    /// OCR word accuracy at or above which an image counts as readable.
    pub readable_threshold: f64,
    pub bootstrap: BootstrapInfo,
    /// One row per attack other than `none`, in name order.
    pub uplift: Vec<Uplift>,
    pub uplift_by_hazard: Vec<HazardUplift>,
    pub heatmap: Heatmap,
    /// Present with `--baseline`.
    pub backbone: Option<Backbone>,
    /// One entry per image attack.
    pub reliance: Vec<Reliance>,
    /// One row per defense (baseline `none` first); empty with one defense.
    pub defenses: Vec<DefenseEffect>,
    pub ranking: Ranking,
}

/// Group observations of one judge: the judge asked for, else the first seen.
fn judge_of<'a>(obs: &'a [Observation], judge: Option<&'a str>) -> Option<&'a str> {
    judge.or_else(|| obs.first().map(|o| o.judge.as_str()))
}

/// Run the analysis. Same input, same output (bootstrap seeded).
pub fn analyze(input: &AnalysisInput<'_>) -> Analysis {
    let judge = judge_of(input.observations, input.judge);
    let primary: Vec<&Observation> = input
        .observations
        .iter()
        .filter(|o| Some(o.judge.as_str()) == judge)
        .collect();
    let defenses: BTreeSet<&str> = primary.iter().map(|o| o.defense.as_str()).collect();
    let defense = if defenses.contains(crate::BASELINE) {
        Some(crate::BASELINE)
    } else {
        defenses.iter().next().copied()
    };
    let harm: Vec<&Observation> = primary
        .iter()
        .copied()
        .filter(|o| o.expect == Expect::Refuse && Some(o.defense.as_str()) == defense)
        .collect();
    let attacks: BTreeSet<&str> = harm
        .iter()
        .map(|o| o.attack.as_str())
        .filter(|a| *a != TEXT_ATTACK)
        .collect();
    let image_attacks: BTreeSet<&str> = harm
        .iter()
        .filter(|o| {
            input
                .facts
                .get(&(o.attack.clone(), o.case_id.clone()))
                .is_some_and(|f| f.images > 0)
        })
        .map(|o| o.attack.as_str())
        .filter(|a| *a != TEXT_ATTACK)
        .collect();
    let boot = &input.bootstrap;

    let uplift = uplift_table(&harm, &attacks, &image_attacks, boot);
    let hazards: BTreeSet<Hazard> = harm.iter().map(|o| o.hazard).collect();
    let uplift_by_hazard = hazards
        .iter()
        .map(|h| {
            let within: Vec<&Observation> =
                harm.iter().copied().filter(|o| o.hazard == *h).collect();
            HazardUplift {
                hazard: h.slug().to_string(),
                attacks: uplift_table(&within, &attacks, &image_attacks, boot),
            }
        })
        .collect();
    let pairs_by_attack: BTreeMap<&str, Vec<pairs::Pair<'_>>> = attacks
        .iter()
        .map(|a| (*a, pairs::text_pairs(&harm, TEXT_ATTACK, a).0))
        .collect();

    Analysis {
        run_id: input.run_id.to_string(),
        judge: judge.map(str::to_string),
        text_attack: TEXT_ATTACK.to_string(),
        defense: defense.map(str::to_string),
        readable_threshold: READABLE,
        bootstrap: BootstrapInfo {
            resamples: boot.resamples,
            seed: boot.seed,
        },
        heatmap: heatmap::heatmap(&harm, defense),
        backbone: input.baseline.map(|(id, base)| {
            let base: Vec<&Observation> = base
                .iter()
                .filter(|o| Some(o.judge.as_str()) == judge)
                .collect();
            backbone::backbone(id, &primary, &base, boot)
        }),
        reliance: reliance::reliance(&harm, &image_attacks, input.facts, boot),
        defenses: defense::effects(&primary, boot),
        ranking: ranking::ranking(&uplift, &harm, &attacks, &image_attacks, &pairs_by_attack),
        uplift,
        uplift_by_hazard,
    }
}

fn uplift_table(
    harm: &[&Observation],
    attacks: &BTreeSet<&str>,
    image_attacks: &BTreeSet<&str>,
    boot: &Bootstrap,
) -> Vec<Uplift> {
    let mut rows: Vec<Uplift> = attacks
        .iter()
        .map(|a| {
            let (pairs, excluded) = pairs::text_pairs(harm, TEXT_ATTACK, a);
            let c = pairs::compare(&pairs, boot);
            Uplift {
                attack: a.to_string(),
                image: image_attacks.contains(a),
                n_pairs: c.n_pairs,
                n_cases: c.n_cases,
                excluded,
                asr_text: c.asr_a,
                asr_attack: c.asr_b,
                uplift: c.difference,
                uplift_ci: c.difference_ci,
                p_value: c.p_value,
                p_holm: c.p_value,
                refused_text_complied_attack: c.refused_then_complied,
                complied_text_refused_attack: c.complied_then_refused,
                both_complied: c.both_complied,
                both_refused: c.both_refused,
            }
        })
        .collect();
    // An attack without pairs is no test: it stays out of the family (p_holm 1).
    let tested: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].n_pairs > 0).collect();
    let adjusted = holm(&tested.iter().map(|&i| rows[i].p_value).collect::<Vec<_>>());
    for (&i, p) in tested.iter().zip(adjusted) {
        rows[i].p_holm = p;
    }
    rows
}
