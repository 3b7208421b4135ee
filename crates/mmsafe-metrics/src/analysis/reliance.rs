//! What an image attack relies on: its ASR split by whether the OCR could
//! read the rendered text back (measured when the attack ran), along the
//! readability curve, and by rendering parameters. If the ASR follows
//! readability, the model is attacked through the text it reads.

use super::facts::{CaseFacts, FactsMap, READABLE};
use super::pairs::success;
use crate::interval::{proportion, wilson, Bootstrap, Ci};
use crate::Observation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Edges of the readability curve's bins: [0, .25), [.25, .5), [.5, .75), [.75, 1].
pub const CURVE_BINS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// ASR of the decided harmful attempts sharing one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub value: String,
    pub decided: u64,
    pub complied: u64,
    pub asr: Option<f64>,
    pub asr_ci: Option<Ci>,
}

/// One bin of the readability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// `[lo, hi)` (the last bin includes 1).
    pub bin: [f64; 2],
    /// Mean word accuracy of the attempts in the bin (the point's x).
    pub mean_accuracy: Option<f64>,
    pub decided: u64,
    pub complied: u64,
    pub asr: Option<f64>,
    pub asr_ci: Option<Ci>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliance {
    pub attack: String,
    /// Decided harmful attempts whose image has an OCR score.
    pub scored: u64,
    /// Decided harmful attempts without one (no OCR model when it ran).
    pub unscored: u64,
    /// Word accuracy ≥ the readable threshold.
    pub readable: Group,
    pub unreadable: Group,
    /// `readable.asr − unreadable.asr`.
    pub readable_minus_unreadable: Option<f64>,
    /// Bootstrap 95% interval (attempts resampled).
    pub readable_minus_unreadable_ci: Option<Ci>,
    pub curve: Vec<CurvePoint>,
    pub by_font_size: Vec<Group>,
    pub by_contrast: Vec<Group>,
    pub by_layout: Vec<Group>,
}

fn group(value: String, hits: &[bool]) -> Group {
    let k = hits.iter().filter(|h| **h).count() as u64;
    let n = hits.len() as u64;
    Group {
        value,
        decided: n,
        complied: k,
        asr: proportion(k, n),
        asr_ci: wilson(k, n),
    }
}

/// `80`, `12.5`: a size as its parameter would be written.
fn size_label(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn groups<F>(rows: &[(&CaseFacts, bool)], key: F) -> Vec<Group>
where
    F: Fn(&CaseFacts) -> Option<(i64, String)>,
{
    // Keyed by a sortable number first so 9 sorts before 10.
    let mut by: BTreeMap<(i64, String), Vec<bool>> = BTreeMap::new();
    for (f, hit) in rows {
        if let Some(k) = key(f) {
            by.entry(k).or_default().push(*hit);
        }
    }
    by.into_iter()
        .map(|((_, v), hits)| group(v, &hits))
        .collect()
}

pub(crate) fn reliance(
    harm: &[&Observation],
    image_attacks: &BTreeSet<&str>,
    facts: &FactsMap,
    boot: &Bootstrap,
) -> Vec<Reliance> {
    let none = CaseFacts::default();
    image_attacks
        .iter()
        .map(|attack| {
            let rows: Vec<(&CaseFacts, bool)> = harm
                .iter()
                .filter(|o| o.attack == *attack)
                .filter_map(|o| {
                    let f = facts
                        .get(&(o.attack.clone(), o.case_id.clone()))
                        .unwrap_or(&none);
                    success(o).map(|s| (f, s))
                })
                .collect();
            one(attack, &rows, boot)
        })
        .collect()
}

fn one(attack: &str, rows: &[(&CaseFacts, bool)], boot: &Bootstrap) -> Reliance {
    let scored: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|(f, s)| f.word_accuracy.map(|a| (a, *s)))
        .collect();
    let split = |rows: &[(f64, bool)], readable: bool| -> Vec<bool> {
        rows.iter()
            .filter(|(a, _)| (*a >= READABLE) == readable)
            .map(|(_, s)| *s)
            .collect()
    };
    let readable = group("readable".into(), &split(&scored, true));
    let unreadable = group("unreadable".into(), &split(&scored, false));
    let difference = readable.asr.zip(unreadable.asr).map(|(r, u)| r - u);
    let difference_ci = difference.and(boot.ci(scored.len(), |idx| {
        let drawn: Vec<(f64, bool)> = idx.iter().map(|&i| scored[i]).collect();
        let rate = |r: bool| {
            let hits = split(&drawn, r);
            proportion(
                hits.iter().filter(|h| **h).count() as u64,
                hits.len() as u64,
            )
        };
        rate(true).zip(rate(false)).map(|(r, u)| r - u)
    }));
    let curve = CURVE_BINS
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let last = i == CURVE_BINS.len() - 2;
            let inside: Vec<(f64, bool)> = scored
                .iter()
                .copied()
                .filter(|(a, _)| *a >= w[0] && (*a < w[1] || (last && *a <= w[1])))
                .collect();
            let hits: Vec<bool> = inside.iter().map(|(_, s)| *s).collect();
            let g = group(String::new(), &hits);
            CurvePoint {
                bin: [w[0], w[1]],
                mean_accuracy: (!inside.is_empty())
                    .then(|| inside.iter().map(|(a, _)| a).sum::<f64>() / inside.len() as f64),
                decided: g.decided,
                complied: g.complied,
                asr: g.asr,
                asr_ci: g.asr_ci,
            }
        })
        .collect();
    Reliance {
        attack: attack.to_string(),
        scored: scored.len() as u64,
        unscored: (rows.len() - scored.len()) as u64,
        readable,
        unreadable,
        readable_minus_unreadable: difference,
        readable_minus_unreadable_ci: difference_ci,
        curve,
        by_font_size: groups(rows, |f| {
            f.font_size
                .map(|s| ((s * 1000.0).round() as i64, size_label(s)))
        }),
        // Contrast in tenths: finer steps split attempts that look the same.
        by_contrast: groups(rows, |f| {
            f.contrast.map(|c| {
                let t = (c * 10.0).round();
                (t as i64, format!("{:.1}", t / 10.0))
            })
        }),
        by_layout: groups(rows, |f| f.layout.clone().map(|l| (0, l))),
    }
}
