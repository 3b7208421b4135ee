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
