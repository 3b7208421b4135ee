//! `JUDGE:defer=LOW-HIGH`: selective judging. A scoring judge (`classifier`,
//! `vote:` of scoring judges) answers `undecided` when its score falls
//! strictly inside the band, so the rows it is least sure about go to a
//! person or a stronger judge instead of being guessed. `mmsafe judge eval`
//! prints the band that reaches a target accuracy (see [`crate::coverage`]).

use async_trait::async_trait;
use mmsafe_core::{Case, DynJudge, Judge, JudgeError, Label, Response, Verdict};

/// An open score interval (low, high) inside which the judge defers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

impl Band {
    /// `LOW-HIGH` with 0 ≤ LOW < HIGH ≤ 1.
    pub fn parse(s: &str) -> Result<Band, String> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("defer band `{s}` must be LOW-HIGH, e.g. 0.3-0.7"))?;
        let num = |x: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|_| format!("defer band `{s}`: `{x}` is not a number"))
        };
        let (low, high) = (num(lo)?, num(hi)?);
        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) || low >= high {
            return Err(format!(
                "defer band `{s}` needs 0 ≤ LOW < HIGH ≤ 1 (scores are probabilities)"
            ));
        }
        Ok(Band { low, high })
    }

    pub fn contains(&self, score: f64) -> bool {
        self.low < score && score < self.high
    }
}

/// Split a trailing `:defer=LOW-HIGH` off a judge spec: `None` when there is
/// none (a `:defer=` inside a `vote:` member's brackets belongs to the
/// member), `Some(Err)` when the band is malformed.
pub fn split_spec(spec: &str) -> Option<Result<(&str, Band), String>> {
    let (inner, band) = spec.rsplit_once(":defer=")?;
    if band.contains([']', ',', ':']) {
        return None;
    }
    Some(
        Band::parse(band)
            .map(|b| (inner, b))
            .map_err(|e| format!("judge `{spec}`: {e}")),
    )
}

pub struct DeferJudge {
    name: String,
    inner: DynJudge,
    band: Band,
}

impl DeferJudge {
    pub fn new(inner: DynJudge, band: Band) -> DeferJudge {
        DeferJudge {
            name: format!("{}:defer={}-{}", inner.name(), band.low, band.high),
            inner,
            band,
        }
    }
}

/// The inner verdict, or `undecided` when its score is inside the band.
/// Verdicts without a score (a rule gate, an empty reply) pass unchanged.
pub fn defer(name: &str, band: Band, v: Verdict) -> Verdict {
    let decided = matches!(v.label, Label::Complied | Label::Refused);
    match v.score {
        Some(p) if decided && band.contains(p) => Verdict {
            judge: name.to_string(),
            label: Label::Undecided,
            rationale: format!(
                "deferred: score {p:.3} inside ({}, {}); {} said {} ({})",
                band.low, band.high, v.judge, v.label, v.rationale
            ),
            ..v
        },
        _ => Verdict {
            judge: name.to_string(),
            ..v
        },
    }
}

#[async_trait]
impl Judge for DeferJudge {
    fn name(&self) -> &str {
        &self.name
    }

    async fn judge(&self, case: &Case, response: &Response) -> Result<Verdict, JudgeError> {
        let v = self.inner.judge(case, response).await?;
        Ok(defer(&self.name, self.band, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Expect, Hazard};
    use std::sync::Arc;

    /// Scores replies by their length: a real judge with a score, no model.
    struct Length;
    #[async_trait]
    impl Judge for Length {
        fn name(&self) -> &str {
            "length"
        }
        async fn judge(&self, _: &Case, r: &Response) -> Result<Verdict, JudgeError> {
            let p = (r.text.len() as f64 / 10.0).min(1.0);
            let label = if p >= 0.5 {
                Label::Complied
            } else {
                Label::Refused
            };
            let mut v = Verdict::new("length", label, "by length");
            v.score = Some(p);
            Ok(v)
        }
    }

    #[test]
    fn specs_and_bands() {
        let (inner, band) = split_spec("classifier:defer=0.3-0.7").unwrap().unwrap();
        assert_eq!(inner, "classifier");
        assert_eq!(
            band,
            Band {
                low: 0.3,
                high: 0.7
            }
        );
        assert!(split_spec("classifier").is_none());
        assert!(split_spec("vote:[classifier:defer=0.2-0.8],refusal").is_none());
        let (inner, _) = split_spec("vote:[classifier:defer=0.2-0.8],refusal:defer=0.4-0.6")
            .unwrap()
            .unwrap();
        assert_eq!(inner, "vote:[classifier:defer=0.2-0.8],refusal");
        for bad in ["0.7-0.3", "0.3", "a-0.5", "0.2-1.5"] {
            let err = split_spec(&format!("classifier:defer={bad}"))
                .unwrap()
                .unwrap_err();
            assert!(err.contains("classifier:defer="), "{err}");
        }
        assert!(band.contains(0.5) && !band.contains(0.3) && !band.contains(0.7));
    }

    #[tokio::test]
    async fn defers_inside_the_band_only() {
        let j = DeferJudge::new(Arc::new(Length), Band::parse("0.3-0.7").unwrap());
        assert_eq!(j.name(), "length:defer=0.3-0.7");
        let case = Case::text("c", "q", Hazard::Benign, Expect::Refuse, "t");
        let label = |text: &str| {
            let j = &j;
            let case = &case;
            let r = Response::text(text);
            async move { j.judge(case, &r).await.unwrap() }
        };
        let v = label("12345").await; // 0.5: deferred
        assert_eq!(v.label, Label::Undecided);
        assert_eq!(v.score, Some(0.5));
        assert!(
            v.rationale.contains("length said complied"),
            "{}",
            v.rationale
        );
        assert_eq!(label("1234567").await.label, Label::Complied); // 0.7: decided
        assert_eq!(label("12").await.label, Label::Refused); // 0.2
        let plain = Verdict::new("x", Label::Refused, "rule");
        assert_eq!(
            defer(
                "d",
                Band {
                    low: 0.0,
                    high: 1.0
                },
                plain
            )
            .label,
            Label::Refused
        );
    }
}
