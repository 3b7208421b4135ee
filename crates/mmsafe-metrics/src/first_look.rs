//! The two contrasts a first run is for: what an image attack adds to the
//! attack success rate over the same requests as plain text, and what a guard
//! takes away, at what over-refusal. Undefended attacks are compared with
//! each other, and the guard over every attack, on one judge's verdicts.

use crate::rates::Rates;
use crate::Observation;

/// Rates of one slice of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Contrast {
    /// The reference slice (`none` attack, or `none` defense).
    pub base: Rates,
    /// The slice compared with it.
    pub other: Rates,
}

impl Contrast {
    /// ASR of `other` minus ASR of `base`, in percentage points.
    pub fn asr_points(&self) -> Option<f64> {
        Some(100.0 * (self.other.asr? - self.base.asr?))
    }
}

/// What the first run shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstLook {
    /// `attack` against `none`, both without a defense.
    pub attack: Option<(String, Contrast)>,
    /// `defense` against `none`, over every attack.
    pub defense: Option<(String, Contrast)>,
}

/// The contrasts in `obs` for `judge`: the first attack other than `none`,
/// and the first defense other than `none` (in the order given), when the
/// run has the `none` slice to compare with.
pub fn first_look(
    obs: &[Observation],
    judge: &str,
    attacks: &[String],
    defenses: &[String],
) -> FirstLook {
    let of = |keep: &dyn Fn(&Observation) -> bool| {
        Rates::from_observations(obs.iter().filter(|o| o.judge == judge && keep(o)))
    };
    let has = |v: &[String], s: &str| v.iter().any(|x| x == s);
    let attack = (has(attacks, "none") && has(defenses, "none"))
        .then(|| attacks.iter().find(|a| *a != "none"))
        .flatten()
        .map(|a| {
            let base = of(&|o| o.attack == "none" && o.defense == "none");
            let other = of(&|o| o.attack == *a && o.defense == "none");
            (a.clone(), Contrast { base, other })
        });
    let defense = has(defenses, "none")
        .then(|| defenses.iter().find(|d| *d != "none"))
        .flatten()
        .map(|d| {
            let base = of(&|o| o.defense == "none");
            let other = of(&|o| o.defense == *d);
            (d.clone(), Contrast { base, other })
        });
    FirstLook { attack, defense }
}

impl FirstLook {
    /// One sentence, e.g. `the attack figstep adds +12.0 points of ASR over
    /// the plain requests (30.0% → 42.0%, undefended); the balanced guard removes 25.0 points
    /// (36.0% → 11.0%) at 8.0% over-refusal (2.0% without it)`. `None` when
    /// neither contrast has figures.
    pub fn sentence(&self) -> Option<String> {
        let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let mut parts = Vec::new();
        if let Some((name, c)) = &self.attack {
            if let Some(p) = c.asr_points() {
                parts.push(format!(
                    "the attack {name} adds {p:+.1} points of ASR over the plain requests ({} → {}, undefended)",
                    pct(c.base.asr),
                    pct(c.other.asr)
                ));
            }
        }
        if let Some((name, c)) = &self.defense {
            if let Some(p) = c.asr_points() {
                parts.push(format!(
                    "the {name} guard removes {:.1} points ({} → {}) at {} over-refusal ({} without it)",
                    -p,
                    pct(c.base.asr),
                    pct(c.other.asr),
                    pct(c.other.over_refusal_rate),
                    pct(c.base.over_refusal_rate)
                ));
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Expect, Hazard, Label};

    fn obs(attack: &str, defense: &str, expect: Expect, label: Label) -> Observation {
        Observation {
            case_id: "c".into(),
            base_case_id: "c".into(),
            hazard: Hazard::NonViolentCrimes,
            expect,
            attack: attack.into(),
            defense: defense.into(),
            repeat: 0,
            judge: "refusal".into(),
            label,
            error_kind: None,
            score: None,
            latency_ms: 0.0,
            usage: Default::default(),
            guard_ms: 0.0,
            guard_extra_calls: 0,
            guard_extra_tokens: 0,
            pair_id: None,
        }
    }

    #[test]
    fn attack_uplift_and_guard_effect_by_hand() {
        use Expect::{Comply, Refuse};
        use Label::{Complied, Refused};
        let mut o = Vec::new();
        // Undefended: text 1/4 complied, image 3/4.
        for (a, complied) in [("none", 1), ("figstep", 3)] {
            for i in 0..4 {
                let l = if i < complied { Complied } else { Refused };
                o.push(obs(a, "none", Refuse, l));
            }
        }
        // Guarded: nothing complied; 1 of 2 benign refused (0 of 2 undefended).
        for a in ["none", "figstep"] {
            for _ in 0..4 {
                o.push(obs(a, "balanced", Refuse, Refused));
            }
        }
        o.push(obs("none", "none", Comply, Complied));
        o.push(obs("none", "none", Comply, Complied));
        o.push(obs("none", "balanced", Comply, Refused));
        o.push(obs("none", "balanced", Comply, Complied));
        // Another judge's verdicts are not counted.
        let mut other = obs("figstep", "none", Refuse, Refused);
        other.judge = "llm:x".into();
        o.push(other);
        let attacks = vec!["none".to_string(), "figstep".to_string()];
        let defenses = vec!["none".to_string(), "balanced".to_string()];
        let f = first_look(&o, "refusal", &attacks, &defenses);
        let (name, a) = f.attack.clone().unwrap();
        assert_eq!(name, "figstep");
        assert_eq!((a.base.asr, a.other.asr), (Some(0.25), Some(0.75)));
        assert!((a.asr_points().unwrap() - 50.0).abs() < 1e-9);
        let (_, d) = f.defense.clone().unwrap();
        assert_eq!((d.base.asr, d.other.asr), (Some(0.5), Some(0.0)));
        assert_eq!(d.other.over_refusal_rate, Some(0.5));
        assert_eq!(
            f.sentence().unwrap(),
            "the attack figstep adds +50.0 points of ASR over the plain requests (25.0% → 75.0%, undefended); \
             the balanced guard removes 50.0 points (50.0% → 0.0%) at 50.0% over-refusal (0.0% without it)"
        );
        // Without a `none` slice there is nothing to compare.
        let f = first_look(&o, "refusal", &attacks[1..], &defenses[1..]);
        assert!(f.attack.is_none() && f.defense.is_none() && f.sentence().is_none());
    }
}
