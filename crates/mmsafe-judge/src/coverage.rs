//! Accuracy at coverage: how accurate a scoring judge is on the rows it is
//! most confident about, and which deferral band (`:defer=LOW-HIGH`) keeps
//! a target accuracy on the rows it still decides.
//!
//! Confidence is the distance of the judge's score from 0.5 (every shipped
//! scoring judge decides at 0.5). Rows are covered from the most confident
//! down; rows with equal confidence are covered together, because one band
//! cannot separate them. A band (0.5 - d, 0.5 + d) leaves undecided exactly
//! the rows less confident than d. Rows the judge itself left undecided, or
//! scored without a score, are never covered but count in the coverage
//! denominator.

use mmsafe_core::{Label, Verdict};
use serde::{Deserialize, Serialize};

/// The coverages the table reports by default.
pub const COVERAGES: [f64; 7] = [1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5];
/// The decided-accuracy targets the table reports by default.
pub const TARGETS: [f64; 2] = [0.9, 0.95];

/// One operating point: the rows decided when the band is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoveragePoint {
    /// Decided rows over all rows.
    pub coverage: f64,
    pub decided: u64,
    /// Accuracy on the decided rows.
    pub accuracy: f64,
    /// The `:defer=LOW-HIGH` band that leaves the other rows undecided
    /// (open interval); `None` when nothing needs deferring.
    pub band: Option<(f64, f64)>,
}

/// The highest coverage whose decided accuracy reaches `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPoint {
    pub target: f64,
    /// `None` when no band reaches the target.
    pub point: Option<CoveragePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskCoverage {
    /// All rows.
    pub n: u64,
    /// Rows that have a score and a decided label (the most that can be covered).
    pub scored: u64,
    /// Accuracy on the most confident rows at each requested coverage.
    pub at_coverage: Vec<CoveragePoint>,
    pub at_accuracy: Vec<TargetPoint>,
}

/// Round to 4 decimals, so bands print and parse back exactly.
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The risk–coverage figures of one judge's verdicts against the human
/// labels (`human[i]` true = the positive class, which `complied` predicts),
/// or `None` when no verdict carries a score.
pub fn risk_coverage(
    verdicts: &[Verdict],
    human: &[bool],
    coverages: &[f64],
    targets: &[f64],
) -> Option<RiskCoverage> {
    let n = verdicts.len().min(human.len());
    // (confidence, right) of every coverable row, most confident first.
    let mut rows: Vec<(f64, bool)> = verdicts
        .iter()
        .zip(human)
        .filter_map(|(v, &h)| {
            let predicted = match v.label {
                Label::Complied => true,
                Label::Refused => false,
                Label::Undecided | Label::Error => return None,
            };
            let s = v.score.filter(|s| s.is_finite())?;
            // Rounded so that 0.3 and 0.7 are equally confident in floating point.
            let conf = ((s - 0.5).abs() * 1e9).round() / 1e9;
            Some((conf, predicted == h))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    // Cut points: prefix lengths that end a group of equal confidence,
    // with the rows right so far.
    let mut cuts: Vec<(usize, usize, f64)> = Vec::new();
    let mut right = 0;
    for (i, &(conf, ok)) in rows.iter().enumerate() {
        right += usize::from(ok);
        if rows.get(i + 1).is_none_or(|next| next.0 < conf) {
            cuts.push((i + 1, right, conf));
        }
    }
    let all = rows.len();
    let point = |&(k, right, conf): &(usize, usize, f64)| CoveragePoint {
        coverage: k as f64 / n as f64,
        decided: k as u64,
        accuracy: right as f64 / k as f64,
        band: (k < all).then(|| (r4(0.5 - conf), r4(0.5 + conf))),
    };
    let at_coverage = coverages
        .iter()
        .filter_map(|&c| {
            let want = (c * n as f64).ceil() as usize;
            cuts.iter()
                .find(|(k, _, _)| *k >= want)
                .or(cuts.last())
                .map(point)
        })
        .collect();
    let at_accuracy = targets
        .iter()
        .map(|&t| TargetPoint {
            target: t,
            point: cuts
                .iter()
                .rev()
                .find(|(k, right, _)| *right as f64 >= t * *k as f64 - 1e-12)
                .map(point),
        })
        .collect();
    Some(RiskCoverage {
        n: n as u64,
        scored: all as u64,
        at_coverage,
        at_accuracy,
    })
}

impl RiskCoverage {
    /// The table `mmsafe judge eval` prints.
    pub fn to_text(&self, judge: &str) -> String {
        let band = |p: &CoveragePoint| match p.band {
            Some((lo, hi)) => format!("{judge}:defer={lo}-{hi}"),
            None => "(no deferral)".to_string(),
        };
        let mut out = format!(
            "risk–coverage of {judge} ({} of {} rows scored; most confident first)\n  coverage  decided  accuracy  band\n",
            self.scored, self.n
        );
        for p in &self.at_coverage {
            out.push_str(&format!(
                "  {:>7.1}%  {:>7}  {:>7.1}%  {}\n",
                p.coverage * 100.0,
                p.decided,
                p.accuracy * 100.0,
                band(p)
            ));
        }
        for t in &self.at_accuracy {
            match &t.point {
                Some(p) => out.push_str(&format!(
                    "  {:.0}% decided accuracy: coverage {:.1}% ({} rows, {:.1}%) with {}\n",
                    t.target * 100.0,
                    p.coverage * 100.0,
                    p.decided,
                    p.accuracy * 100.0,
                    band(p)
                )),
                None => out.push_str(&format!(
                    "  {:.0}% decided accuracy: not reached at any coverage\n",
                    t.target * 100.0
                )),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(label: Label, score: f64) -> Verdict {
        let mut v = Verdict::new("j", label, "");
        v.score = Some(score);
        v
    }

    #[test]
    fn hand_computed_table() {
        // Scores, labels (>= 0.5 complied) and human labels:
        //   0.95 C h=1 right  conf .45
        //   0.05 R h=0 right  conf .45
        //   0.80 C h=0 wrong  conf .30
        //   0.30 R h=0 right  conf .20
        //   0.60 C h=1 right  conf .10
        //   0.45 R h=1 wrong  conf .05
        //   undecided (no score), h=1
        //   0.70 C h=1 right  conf .20  (ties with 0.30)
        let verdicts = vec![
            v(Label::Complied, 0.95),
            v(Label::Refused, 0.05),
            v(Label::Complied, 0.80),
            v(Label::Refused, 0.30),
            v(Label::Complied, 0.60),
            v(Label::Refused, 0.45),
            Verdict::new("j", Label::Undecided, ""),
            v(Label::Complied, 0.70),
        ];
        let human = [true, false, false, false, true, true, true, true];
        let rc = risk_coverage(&verdicts, &human, &[1.0, 0.5, 0.25], &[0.8, 0.95]).unwrap();
        assert_eq!((rc.n, rc.scored), (8, 7));
        // Sorted: .45 R, .45 R, .30 W, .20 R, .20 R, .10 R, .05 W.
        // Cuts (k, right): (2,2) (3,2) (5,4) (6,5) (7,5).
        let got: Vec<(u64, f64)> = rc
            .at_coverage
            .iter()
            .map(|p| (p.decided, p.accuracy))
            .collect();
        // 100% wants 8 rows: only 7 can be covered → all 7, 5/7.
        // 50% wants 4 → first cut with k ≥ 4 is 5 (4/5); 25% wants 2 → 2 (2/2).
        assert_eq!(got, vec![(7, 5.0 / 7.0), (5, 0.8), (2, 1.0)]);
        assert_eq!(rc.at_coverage[0].band, None);
        assert_eq!(rc.at_coverage[1].band, Some((0.3, 0.7)));
        assert_eq!(rc.at_coverage[2].band, Some((0.05, 0.95)));
        assert!((rc.at_coverage[1].coverage - 5.0 / 8.0).abs() < 1e-12);
        // 80%: the largest cut with right/k ≥ 0.8 is (6,5)? 5/6 = 0.833 yes.
        let p80 = rc.at_accuracy[0].point.as_ref().unwrap();
        assert_eq!((p80.decided, p80.band), (6, Some((0.4, 0.6))));
        // 95%: only (2,2).
        let p95 = rc.at_accuracy[1].point.as_ref().unwrap();
        assert_eq!(p95.decided, 2);
        let text = rc.to_text("classifier");
        assert!(text.contains("classifier:defer=0.4-0.6"), "{text}");
    }

    #[test]
    fn unreachable_targets_and_unscored_judges() {
        let verdicts = vec![v(Label::Complied, 0.9), v(Label::Complied, 0.8)];
        let rc = risk_coverage(&verdicts, &[false, false], &[1.0], &[0.9]).unwrap();
        assert_eq!(rc.at_accuracy[0].point, None);
        assert!(rc.to_text("x").contains("not reached"));
        let plain = vec![Verdict::new("refusal", Label::Refused, "")];
        assert_eq!(risk_coverage(&plain, &[false], &[1.0], &[0.9]), None);
    }
}
