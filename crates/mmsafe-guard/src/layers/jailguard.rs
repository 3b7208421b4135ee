//! `jailguard` — JailGuard in spirit (methods.md §10): query the target with
//! N mutated variants of the input; attack inputs are less robust to
//! perturbation, so their answers diverge more. Flag when the divergence of
//! the answers' sentence embeddings exceeds a threshold, or when every variant
//! was refused. Costs N extra target calls, made concurrently with the real one.

use super::kind::{Build, Compiled, LayerKind};
use crate::check::{GuardOptions, Phase};
use crate::error::GuardError;
use crate::layers::{map_images, with_prompt_text};
use crate::{imaging, mutate, refusal};
use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, Embedder, GuardEvent, Layer, Request, Response, Target, TargetError, TargetInfo,
    Usage,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct JailGuard {
    pub embedder: Arc<dyn Embedder>,
    pub variants: usize,
    /// Divergence threshold for text-only inputs (the paper's GPT-3.5 value).
    pub threshold_text: f64,
    /// Divergence threshold for inputs with images (the paper's MiniGPT-4 value).
    pub threshold_image: f64,
    /// Characters of each answer compared.
    pub truncate: usize,
    pub opts: GuardOptions,
}

impl Layer for JailGuard {
    fn name(&self) -> &str {
        "jailguard"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(JailGuardTarget {
            cfg: self.clone(),
            inner,
        })
    }
}

struct JailGuardTarget {
    cfg: JailGuard,
    inner: DynTarget,
}

impl JailGuard {
    /// The N variants of a request, deterministic for a given request and seed.
    pub fn variants(&self, req: &Request) -> Result<(Vec<Request>, Vec<&'static str>), String> {
        let mut labels: Vec<&str> = vec!["jailguard"];
        let text = req.prompt_text();
        labels.push(&text);
        let shas: Vec<String> = req.images().map(|i| i.sha256().to_string()).collect();
        labels.extend(shas.iter().map(String::as_str));
        let seed = mmsafe_core::seed::derive(req.seed.unwrap_or(0), &labels);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let has_images = !shas.is_empty();
        let decoded: Vec<image::RgbImage> = if has_images {
            req.images()
                .map(imaging::decode)
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(self.variants);
        let mut names = Vec::with_capacity(self.variants);
        for _ in 0..self.variants {
            if has_images {
                let m = mutate::pick_image_mutator(&mut rng);
                names.push(m.as_str());
                let v = map_images(req, |i, _| {
                    let px = mutate::mutate_image(&decoded[i], m, &mut rng);
                    imaging::encode_png(&px)
                })?;
                out.push(v);
            } else {
                let m = mutate::pick_text_mutator(&mut rng);
                names.push(m.as_str());
                out.push(with_prompt_text(
                    req,
                    &mutate::mutate_text(&text, m, &mut rng),
                ));
            }
        }
        Ok((out, names))
    }

    /// Divergence of the answers and whether all were refused.
    pub fn score(&self, answers: &[String]) -> Result<(f64, bool), String> {
        let truncated: Vec<String> = answers
            .iter()
            .map(|a| a.chars().take(self.truncate).collect())
            .collect();
        let refs: Vec<&str> = truncated.iter().map(String::as_str).collect();
        let vecs = self.embedder.embed(&refs).map_err(|e| e.to_string())?;
        let all_refused = answers.iter().all(|a| refusal::looks_refused(a));
        Ok((mutate::divergence(&vecs), all_refused))
    }
}

#[async_trait]
impl Target for JailGuardTarget {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let t = Instant::now();
        let cfg = &self.cfg;
        let prepared = crate::blocking::run(|| cfg.variants(&req)).await;
        let (variants, mutators) = match prepared {
            Ok(v) => v,
            Err(e) => {
                let ev =
                    cfg.opts
                        .on_error(GuardError::new("jailguard", e), Phase::Request, ms(t))?;
                let mut r = self.inner.call(req).await?;
                r.events.insert(0, ev);
                return Ok(r);
            }
        };
        let has_images = req.images().next().is_some();
        let calls = variants.into_iter().map(|v| self.inner.call(v));
        let (original, answers) =
            futures::join!(self.inner.call(req), futures::future::join_all(calls));
        let mut usage = Usage::default();
        let mut texts = Vec::new();
        let mut failure = None;
        for a in answers {
            match a {
                Ok(r) => {
                    usage.add(r.usage);
                    texts.push(r.text);
                }
                Err(e) => failure = Some(e),
            }
        }
        let mut resp = original?;
        let scored = match failure {
            Some(e) => Err(format!("variant call failed: {e}")),
            None => crate::blocking::run(|| cfg.score(&texts)).await,
        };
        let (div, all_refused) = match scored {
            Ok(s) => s,
            Err(e) => {
                let ev =
                    cfg.opts
                        .on_error(GuardError::new("jailguard", e), Phase::Request, ms(t))?;
                resp.events.insert(0, ev);
                return Ok(resp);
            }
        };
        let threshold = if has_images {
            cfg.threshold_image
        } else {
            cfg.threshold_text
        };
        let flagged = div > threshold || all_refused;
        let reason = if div > threshold {
            format!("answers to mutated inputs diverge: {div:.4} > {threshold}")
        } else if all_refused {
            "every mutated input was refused".to_string()
        } else {
            format!("divergence {div:.4} <= {threshold}")
        };
        let latency = ms(t);
        let ev = GuardEvent {
            layer: "jailguard".into(),
            decision: if flagged { "block" } else { "pass" }.into(),
            reason,
            latency_ms: latency,
            extra_calls: texts.len() as u32,
            extra_usage: usage,
            detail: serde_json::json!({
                "phase": "request",
                "divergence": div,
                "threshold": threshold,
                "all_refused": all_refused,
                "mutators": mutators,
            }),
        };
        if flagged {
            let mut events = vec![ev];
            events.append(&mut resp.events);
            let mut blocked = cfg.opts.blocked_response(self.info(), events, latency);
            // The real answer was generated; its tokens were spent.
            blocked.usage = resp.usage;
            return Ok(blocked);
        }
        resp.events.insert(0, ev);
        resp.latency_ms = latency;
        Ok(resp)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub static KIND: LayerKind = LayerKind {
    name: "jailguard",
    summary: "answer N mutated variants; flag divergent answers (JailGuard)",
    example: "variants = 2",
    build,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "d_variants")]
    variants: usize,
    #[serde(default = "d_threshold_text")]
    threshold_text: f64,
    #[serde(default = "d_threshold_image")]
    threshold_image: f64,
    #[serde(default = "d_truncate")]
    truncate: usize,
}
fn d_variants() -> usize {
    8
}
fn d_threshold_text() -> f64 {
    0.02
}
fn d_threshold_image() -> f64 {
    0.025
}
fn d_truncate() -> usize {
    100
}

fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let p: Params = b.params()?;
    if p.variants < 2 {
        return Err("`variants` must be at least 2".into());
    }
    let layer = JailGuard {
        embedder: b.models.embedder()?,
        variants: p.variants,
        threshold_text: p.threshold_text,
        threshold_image: p.threshold_image,
        truncate: p.truncate,
        opts: b.opts.clone(),
    };
    Ok(b.layer(Arc::new(layer)))
}
