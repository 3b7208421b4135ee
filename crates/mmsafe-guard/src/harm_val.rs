//! Validation of the `harm` classifier on the split of the training sources
//! that `mmsafe guard train` keeps out of training (`harm_data::is_validation`):
//! scores, recall/FPR at a threshold, and the thresholds chosen for the
//! presets' targets. Thresholds are chosen here, never on the held-out set.

use crate::harm::windows;
use mmsafe_core::{EmbedError, PairScorer};

/// One validation text's score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scored {
    pub harmful: bool,
    pub form: &'static str,
    pub source: String,
    pub score: f64,
}

/// Each text's score as the classifier reads it (its most harmful window),
/// windows scored in batches.
pub fn score_texts(scorer: &dyn PairScorer, texts: &[&str]) -> Result<Vec<f64>, EmbedError> {
    let mut owner = Vec::new();
    let mut wins = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for w in windows(t) {
            owner.push(i);
            wins.push(w);
        }
    }
    let mut best = vec![0f64; texts.len()];
    for (chunk, owners) in wins.chunks(32).zip(owner.chunks(32)) {
        let pairs: Vec<(&str, &str)> = chunk.iter().map(|w| ("", w.as_str())).collect();
        let s = scorer.score(&pairs)?;
        for (&i, p) in owners.iter().zip(s) {
            best[i] = best[i].max(f64::from(p.clamp(0.0, 1.0)));
        }
    }
    Ok(best)
}

/// (recall, FPR, harmful, benign) at `threshold` (blocked: score ≥ threshold).
pub fn rates<'a>(
    scored: impl IntoIterator<Item = &'a Scored>,
    threshold: f64,
) -> (f64, f64, usize, usize) {
    let (mut h, mut hb, mut b, mut bb) = (0usize, 0usize, 0usize, 0usize);
    for s in scored {
        let blocked = s.score >= threshold;
        if s.harmful {
            h += 1;
            hb += usize::from(blocked);
        } else {
            b += 1;
            bb += usize::from(blocked);
        }
    }
    (
        hb as f64 / h.max(1) as f64,
        bb as f64 / b.max(1) as f64,
        h,
        b,
    )
}

/// Candidate thresholds: every score (rounded down to 1e-4), ascending.
fn candidates(scored: &[Scored]) -> Vec<f64> {
    let mut c: Vec<f64> = scored
        .iter()
        .map(|s| (s.score * 1e4).floor() / 1e4)
        .collect();
    c.push(1.0);
    c.sort_by(f64::total_cmp);
    c.dedup();
    c
}

/// The lowest threshold whose FPR is at most `max_fpr` (the most recall
/// at that FPR), with its (recall, FPR).
pub fn threshold_for_fpr(scored: &[Scored], max_fpr: f64) -> (f64, f64, f64) {
    for t in candidates(scored) {
        let (r, f, _, _) = rates(scored, t);
        if f <= max_fpr {
            return (t, r, f);
        }
    }
    (1.0, 0.0, 0.0)
}

/// The highest threshold whose recall is at least `min_recall` (the least
/// FPR at that recall), with its (recall, FPR).
pub fn threshold_for_recall(scored: &[Scored], min_recall: f64) -> (f64, f64, f64) {
    let mut best = (0.0, 1.0, 1.0);
    for t in candidates(scored) {
        let (r, f, _, _) = rates(scored, t);
        if r >= min_recall {
            best = (t, r, f);
        } else {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(harmful: bool, score: f64) -> Scored {
        Scored {
            harmful,
            form: "image",
            source: "x".into(),
            score,
        }
    }

    #[test]
    fn thresholds_meet_their_targets() {
        let v: Vec<Scored> = (0..10)
            .map(|i| s(true, 0.5 + f64::from(i) * 0.05))
            .chain((0..10).map(|i| s(false, f64::from(i) * 0.06)))
            .collect();
        let (t, r, f) = threshold_for_fpr(&v, 0.1);
        assert!(f <= 0.1 && r == 1.0, "{t} {r} {f}");
        assert_eq!(rates(&v, t).1, f);
        let (t, r, f) = threshold_for_recall(&v, 0.9);
        assert!(r >= 0.9 && f == 0.0, "{t} {r} {f}");
        assert!(rates(&v, t).0 >= 0.9);
    }

    /// Scores a text by whether it mentions "bad" (shared with `harm`'s tests).
    use crate::harm::tests::Bad;

    #[test]
    fn a_text_scores_its_worst_window() {
        let mut long = vec!["ok"; 120];
        long[100] = "bad";
        let long = long.join(" ");
        let got = score_texts(&Bad, &["fine", long.as_str(), ""]).unwrap();
        assert_eq!(got, vec![0.1f32 as f64, 0.9f32 as f64, 0.0]);
    }
}
