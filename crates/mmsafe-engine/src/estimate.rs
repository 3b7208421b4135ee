//! `--dry-run`: the plan's size and a token estimate, without calling the target.

use crate::{EngineError, NamedAttack};
use mmsafe_core::{seed, Case, Part, Source};

/// Tokens a vision model typically bills for one image (OpenAI's high-detail
/// cost of a ~768 px square: 85 base + 4 tiles × 170). Providers differ; this
/// is an order-of-magnitude figure for budgeting, not a quote.
pub const TOKENS_PER_IMAGE: u64 = 765;

/// Attacks are applied to this many cases per suite to measure their fan-out
/// and prompt size; the rest are only counted.
const SAMPLE: usize = 8;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub cases: u64,
    pub attacks: u64,
    pub defenses: u64,
    pub repeats: u64,
    /// Attacked cases per input case, averaged over the sample (1.0 for
    /// one-to-one attacks).
    pub fan_out: f64,
    pub requests: u64,
    pub prompt_tokens: u64,
    /// Upper bound: requests × max_tokens, when max_tokens is set.
    pub max_completion_tokens: Option<u64>,
}

/// Attempts a plan sends for `cases` input cases: each attack's declared
/// cases per input ([`mmsafe_core::Attack::cases_per_input`]) summed over the
/// attacks, times defenses and repeats. `None` when an attack's count depends
/// on the case, or on overflow: an unknown size is reported as unknown rather
/// than guessed.
pub fn planned_attempts(
    cases: u64,
    attacks: &[NamedAttack],
    defenses: usize,
    repeats: u32,
) -> Option<u64> {
    let mut per_case = 0u64;
    for a in attacks {
        per_case = per_case.checked_add(u64::try_from(a.attack.cases_per_input()?).ok()?)?;
    }
    cases
        .checked_mul(per_case)?
        .checked_mul(defenses as u64)?
        .checked_mul(u64::from(repeats.max(1)))
}

/// Read every case (so bad rows surface now) and size the plan.
pub async fn estimate(
    sources: Vec<Box<dyn Source>>,
    attacks: &[NamedAttack],
    defenses: usize,
    repeats: u32,
    max_tokens: Option<u32>,
    run_seed: u64,
) -> Result<Estimate, EngineError> {
    let mut cases = 0u64;
    let mut sample: Vec<Case> = Vec::new();
    let mut ids = crate::run::UniqueIds::default();
    for mut source in sources {
        let suite = source.name().to_string();
        for item in source.cases() {
            let case = ids.check(&suite, item?)?;
            cases += 1;
            if sample.len() < SAMPLE {
                sample.push(case);
            }
        }
    }
    // Per attack: attacked cases per input and prompt tokens per attacked case.
    let mut requests_per_case_all = 0.0;
    let mut tokens_per_case_all = 0.0;
    for a in attacks {
        let (mut outputs, mut tokens) = (0u64, 0u64);
        for c in &sample {
            let s = seed::derive(run_seed, &[&c.id, &a.spec]);
            let out = a
                .attack
                .apply(c, s)
                .await
                .map_err(|source| EngineError::Attack {
                    case: c.id.clone(),
                    source,
                })?;
            outputs += out.len() as u64;
            tokens += out.iter().map(prompt_tokens).sum::<u64>();
        }
        if !sample.is_empty() {
            requests_per_case_all += outputs as f64 / sample.len() as f64;
            tokens_per_case_all += tokens as f64 / sample.len() as f64;
        }
    }
    let per_attack_fan_out = if attacks.is_empty() {
        0.0
    } else {
        requests_per_case_all / attacks.len() as f64
    };
    let mult = defenses as u64 * u64::from(repeats.max(1));
    let requests = if sample.is_empty() {
        0
    } else {
        (cases as f64 * requests_per_case_all).round() as u64 * mult
    };
    let prompt_tokens = (cases as f64 * tokens_per_case_all).round() as u64 * mult;
    Ok(Estimate {
        cases,
        attacks: attacks.len() as u64,
        defenses: defenses as u64,
        repeats: u64::from(repeats.max(1)),
        fan_out: per_attack_fan_out,
        requests,
        prompt_tokens,
        max_completion_tokens: max_tokens.map(|m| requests * u64::from(m)),
    })
}

/// Rough prompt size: ~4 characters per text token plus a fixed cost per image.
pub fn prompt_tokens(case: &Case) -> u64 {
    let mut chars = 0u64;
    let mut images = 0u64;
    for m in &case.messages {
        for p in &m.content {
            match p {
                Part::Text { text } => chars += text.chars().count() as u64,
                Part::Image { .. } => images += 1,
            }
        }
    }
    chars.div_ceil(4) + images * TOKENS_PER_IMAGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use mmsafe_core::{Attack, AttackError};
    use std::sync::Arc;

    struct Fan(Option<usize>);

    #[async_trait]
    impl Attack for Fan {
        fn name(&self) -> &str {
            "fan"
        }
        fn cases_per_input(&self) -> Option<usize> {
            self.0
        }
        async fn apply(&self, case: &Case, _seed: u64) -> Result<Vec<Case>, AttackError> {
            Ok(vec![case.clone(); self.0.unwrap_or(1)])
        }
    }

    struct OneToOne;

    #[async_trait]
    impl Attack for OneToOne {
        fn name(&self) -> &str {
            "one"
        }
        // No override: the default says one case per input.
        async fn apply(&self, case: &Case, _seed: u64) -> Result<Vec<Case>, AttackError> {
            Ok(vec![case.clone()])
        }
    }

    fn named(spec: &str, attack: impl Attack + 'static) -> NamedAttack {
        NamedAttack {
            spec: spec.into(),
            attack: Arc::new(attack),
        }
    }

    #[test]
    fn planned_counts_each_attacks_fan_out() {
        let one = named("none", OneToOne);
        let fan4 = named("fan4", Fan(Some(4)));
        // 10 cases × (1 + 4) per case × 2 defenses × 3 repeats.
        assert_eq!(
            planned_attempts(10, &[one.clone(), fan4.clone()], 2, 3),
            Some(300)
        );
        // One-to-one attacks only: the old cases × attacks × defenses × repeats.
        assert_eq!(
            planned_attempts(10, &[one.clone(), one.clone()], 1, 0),
            Some(20)
        );
        // A count that depends on the case makes the plan's size unknown.
        let varies = named("varies", Fan(None));
        assert_eq!(planned_attempts(10, &[one, varies, fan4], 1, 1), None);
        assert_eq!(
            planned_attempts(u64::MAX, &[named("fan4", Fan(Some(4)))], 1, 1),
            None
        );
    }
}
