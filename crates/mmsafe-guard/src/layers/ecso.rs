//! `ecso` — "Eyes Closed, Safety On" in spirit (methods.md §8): answer; ask
//! the same model whether its answer is harmful; if so, caption the image with
//! the query in mind and answer again from the caption alone, without the
//! image, where the language model's text-only alignment applies again.
//! Requests without images pass after the first answer.

use super::kind::{Build, Compiled, LayerKind};
use crate::check::{GuardOptions, Phase};
use crate::error::GuardError;
use crate::layers::{with_prompt_text, without_images};
use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, GuardEvent, Layer, Request, Response, Target, TargetError, TargetInfo, Usage,
};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Ecso {
    pub opts: GuardOptions,
    /// Token limit of the self-check and caption calls.
    pub max_tokens_check: u32,
}

impl Layer for Ecso {
    fn name(&self) -> &str {
        "ecso"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(EcsoTarget {
            cfg: self.clone(),
            inner,
        })
    }
}

struct EcsoTarget {
    cfg: Ecso,
    inner: DynTarget,
}

/// Characters of the answer shown to the self-check (the released code's cut).
const CHECK_CHARS: usize = 1927;

pub fn self_check_prompt(query: &str, answer: &str) -> String {
    let cut: String = answer.chars().take(CHECK_CHARS).collect();
    format!(
        "QUERY:\n{query}\n\nRESPONSE:\n{cut}\n\nIs the RESPONSE harmful, unsafe and unethical? \
         Answer yes or no."
    )
}

pub fn caption_prompt(query: &str) -> String {
    format!("REQUEST:\n{query}.\n\nBased on the REQUEST, describe the image.")
}

pub fn eyes_closed_prompt(query: &str, caption: &str) -> String {
    format!(
        "You are given some hints regarding a question on an image.\n\nHints: \"Answer: {caption}\"\n\n\
         Based on the hints, answer the following question in a HARMLESS and ETHICAL way.\n\n{query}"
    )
}

/// The released code's rule: unsafe only on a plain "yes".
pub fn says_yes(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    t == "yes" || t == "yes." || t.starts_with("yes,") || t.starts_with("yes\n")
}

impl EcsoTarget {
    async fn aux(
        &self,
        req: Request,
        usage: &mut Usage,
        calls: &mut u32,
    ) -> Result<String, String> {
        let r = self.inner.call(req).await.map_err(|e| e.to_string())?;
        usage.add(r.usage);
        *calls += 1;
        Ok(r.text)
    }
}

#[async_trait]
impl Target for EcsoTarget {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let mut resp = self.inner.call(req.clone()).await?;
        // Every layer records its decision, also when it has nothing to do:
        // a missing event would read as "ecso never ran" in the audit.
        let skipped = if resp.finish_reason == mmsafe_core::FinishReason::GuardBlocked {
            Some("an inner layer already blocked the request; no self-check")
        } else if req.images().next().is_none() {
            Some("text-only request: ECSO re-answers only image requests")
        } else {
            None
        };
        if let Some(reason) = skipped {
            resp.events.push(GuardEvent {
                layer: "ecso".into(),
                decision: "pass".into(),
                reason: reason.into(),
                latency_ms: 0.0,
                extra_calls: 0,
                extra_usage: Usage::default(),
                detail: serde_json::json!({"phase": "response", "skipped": true}),
            });
            return Ok(resp);
        }
        let t = Instant::now();
        let query = req.prompt_text();
        let mut usage = Usage::default();
        let mut calls = 0;
        let short = |text: String| Request {
            max_tokens: Some(self.cfg.max_tokens_check),
            temperature: Some(0.0),
            ..with_prompt_text(&req, &text)
        };
        let outcome: Result<Option<(String, String)>, String> = async {
            let verdict = self
                .aux(
                    short(self_check_prompt(&query, &resp.text)),
                    &mut usage,
                    &mut calls,
                )
                .await?;
            if !says_yes(&verdict) {
                return Ok(None);
            }
            let caption = self
                .aux(short(caption_prompt(&query)), &mut usage, &mut calls)
                .await?;
            let blind = Request {
                max_tokens: req.max_tokens,
                ..without_images(&with_prompt_text(
                    &req,
                    &eyes_closed_prompt(&query, &caption),
                ))
            };
            let answer = self.aux(blind, &mut usage, &mut calls).await?;
            Ok(Some((caption, answer)))
        }
        .await;
        let latency = t.elapsed().as_secs_f64() * 1000.0;
        let ev = match outcome {
            Err(e) => {
                self.cfg
                    .opts
                    .on_error(GuardError::new("ecso", e), Phase::Response, latency)?
            }
            Ok(None) => GuardEvent {
                layer: "ecso".into(),
                decision: "pass".into(),
                reason: "self-check: answer is not harmful".into(),
                latency_ms: latency,
                extra_calls: calls,
                extra_usage: usage,
                detail: serde_json::json!({"phase": "response", "unsafe": false}),
            },
            Ok(Some((caption, answer))) => {
                resp.text = answer;
                GuardEvent {
                    layer: "ecso".into(),
                    decision: "rewrite".into(),
                    reason: "self-check flagged the answer; re-answered from a query-aware caption without the image".into(),
                    latency_ms: latency,
                    extra_calls: calls,
                    extra_usage: usage,
                    detail: serde_json::json!({
                        "phase": "response", "unsafe": true, "caption_chars": caption.chars().count()
                    }),
                }
            }
        };
        resp.events.push(ev);
        resp.latency_ms += latency;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_rule() {
        assert!(says_yes(" Yes."));
        assert!(says_yes("yes"));
        assert!(!says_yes("No, it is fine"));
        assert!(!says_yes("yesterday"));
    }
}

pub static KIND: LayerKind = LayerKind {
    name: "ecso",
    summary: "self-check the answer; if unsafe, re-answer from a caption without the image (ECSO)",
    example: "",
    build,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "d_check_tokens")]
    max_tokens_check: u32,
}
fn d_check_tokens() -> u32 {
    256
}

fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let p: Params = b.params()?;
    let layer = Ecso {
        opts: b.opts.clone(),
        max_tokens_check: p.max_tokens_check,
    };
    Ok(b.layer(Arc::new(layer)))
}
