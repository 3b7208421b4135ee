//! `local:smollm2`: a small offline pipeline "MLLM". Images are read with OCR
//! and their text is put into the prompt; SmolLM2-135M-Instruct answers.
//!
//! This is a stand-in for offline use and tests, not a frontier model: its
//! refusal behaviour says nothing about GPT-4o-class systems.
//!
//! Prompt layout for a user message with images (one block per image, in
//! order, before the message's own text):
//!
//! ```text
//! [Text in image 1]
//! <OCR lines>
//! [End of image 1]
//!
//! <message text>
//! ```
//!
//! An image without readable text becomes `[Image 1: no readable text]`.

use crate::error::LocalError;
use crate::llm::{chatml, ChatRole, Finish, GenParams, Llm};
use crate::models::{catalog, Manager};
use crate::threads::Compute;
use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, FinishReason, Message, Ocr, ParamSpec, Params, Part, Request, Response, Role, Spec,
    Target, TargetError, TargetErrorKind, TargetInfo, Usage,
};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Parameters of `local:smollm2:key=value,…`.
pub const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "max_tokens",
        "64",
        "answer budget when the request sets none (the default scan's 10-minute goal assumes 64)",
    ),
    ParamSpec::new("threads", "0", "compute threads; 0 = the --threads setting"),
    ParamSpec::new(
        "repeat_penalty",
        "1.1",
        "penalty on tokens of the last 64 (1 = off)",
    ),
    ParamSpec::new(
        "ocr",
        "true",
        "read images with OCR (false: images are dropped with a note)",
    ),
];

/// Models a `local:` spec can name.
pub const MODELS: &[&str] = &["smollm2"];

struct Inner {
    llm: Llm,
    ocr: OnceLock<Result<Arc<dyn Ocr>, String>>,
    use_ocr: bool,
    max_tokens: usize,
    repeat_penalty: f32,
}

pub struct LocalTarget {
    info: TargetInfo,
    inner: Arc<Inner>,
}

/// Build a `local:<model>[:params]` target; `threads` is the global setting.
pub fn build_target(spec: &str, threads: usize) -> Result<DynTarget, LocalError> {
    Ok(Arc::new(LocalTarget::from_spec(spec, threads)?))
}

impl LocalTarget {
    pub fn from_spec(spec: &str, threads: usize) -> Result<LocalTarget, LocalError> {
        let bad = |m: String| LocalError::model(spec.to_string(), m);
        let parsed = Spec::parse(spec).map_err(|e| bad(e.to_string()))?;
        let model = parsed.name.strip_prefix("local:").unwrap_or(&parsed.name);
        if !MODELS.contains(&model) {
            return Err(bad(format!(
                "unknown local model `{model}`; available: {}",
                MODELS.join(", ")
            )));
        }
        let params = Params::resolve(&parsed.name, &parsed.params, PARAMS)
            .map_err(|e| bad(e.to_string()))?;
        let max_tokens: usize = params.get("max_tokens").map_err(|e| bad(e.to_string()))?;
        let t: usize = params.get("threads").map_err(|e| bad(e.to_string()))?;
        let repeat_penalty: f32 = params
            .get("repeat_penalty")
            .map_err(|e| bad(e.to_string()))?;
        let use_ocr = params.bool("ocr").map_err(|e| bad(e.to_string()))?;
        let threads = if t == 0 { threads.max(1) } else { t };
        let spec_m =
            catalog::find(catalog::SMOLLM2).ok_or_else(|| bad("catalog lacks SmolLM2".into()))?;
        let dir = Manager::from_env()?.require(&spec_m)?;
        let llm = Llm::load(&dir.join(catalog::SMOLLM2_GGUF), Compute::new(threads))?;
        Ok(LocalTarget {
            info: TargetInfo {
                spec: parsed.to_string(),
                model: "SmolLM2-135M-Instruct (Q4_0) + PP-OCRv5 pipeline".into(),
                accepts_images: true,
            },
            inner: Arc::new(Inner {
                llm,
                ocr: OnceLock::new(),
                use_ocr,
                max_tokens,
                repeat_penalty,
            }),
        })
    }
}

impl Inner {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        self.ocr
            .get_or_init(|| crate::default_ocr().map_err(|e| e.to_string()))
            .clone()
    }

    fn answer(&self, req: &Request) -> Result<Response, TargetError> {
        let start = Instant::now();
        // OCR is loaded only when an image needs reading.
        let ocr = if self.use_ocr && req.images().next().is_some() {
            Some(
                self.ocr()
                    .map_err(|e| TargetError::new(TargetErrorKind::Config, e))?,
            )
        } else {
            None
        };
        let turns = render_turns(&req.messages, ocr.as_deref())?;
        let prompt = chatml(&turns);
        let params = GenParams {
            max_tokens: req
                .max_tokens
                .map(|m| m as usize)
                .unwrap_or(self.max_tokens),
            temperature: req.temperature.unwrap_or(0.0).max(0.0) as f64,
            top_p: req.top_p.map(|p| p as f64),
            seed: req.seed.unwrap_or(0),
            stop: req.stop.clone(),
            repeat_penalty: self.repeat_penalty,
            ..GenParams::default()
        };
        let g = self
            .llm
            .generate(&prompt, &params)
            .map_err(|e| TargetError::new(TargetErrorKind::Other, e.to_string()))?;
        let mut r = Response::text(g.text);
        r.finish_reason = match g.finish {
            Finish::Stop => FinishReason::Stop,
            Finish::Length => FinishReason::Length,
        };
        r.usage = Usage {
            prompt_tokens: g.prompt_tokens as u64,
            completion_tokens: g.completion_tokens as u64,
        };
        r.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        r.model = Some(catalog::SMOLLM2.to_string());
        Ok(r)
    }
}

/// The chat turns of `messages` with each image replaced by its OCR text block
/// (the layout in the module docs); `ocr: None` marks images as not shown.
pub fn render_turns(
    messages: &[Message],
    ocr: Option<&dyn Ocr>,
) -> Result<Vec<(ChatRole, String)>, TargetError> {
    let mut out = Vec::new();
    let mut image_no = 0usize;
    for m in messages {
        let role = match m.role {
            Role::System => ChatRole::System,
            Role::User => ChatRole::User,
            Role::Assistant => ChatRole::Assistant,
        };
        let mut blocks = Vec::new();
        for p in &m.content {
            if let Part::Image { image } = p {
                image_no += 1;
                let Some(ocr) = ocr else {
                    blocks.push(format!("[Image {image_no}: not shown]"));
                    continue;
                };
                let text = ocr.read_text(image).map_err(|e| {
                    TargetError::new(TargetErrorKind::BadRequest, format!("local:smollm2: {e}"))
                })?;
                if text.trim().is_empty() {
                    blocks.push(format!("[Image {image_no}: no readable text]"));
                } else {
                    blocks.push(format!(
                        "[Text in image {image_no}]\n{}\n[End of image {image_no}]",
                        text.trim()
                    ));
                }
            }
        }
        let text = m.text();
        if !text.is_empty() {
            blocks.push(text);
        }
        out.push((role, blocks.join("\n\n")));
    }
    Ok(out)
}

#[async_trait]
impl Target for LocalTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let inner = self.inner.clone();
        // CPU-bound: keep it off the async workers. The model lock serialises calls.
        tokio::task::spawn_blocking(move || inner.answer(&req))
            .await
            .map_err(|e| TargetError::new(TargetErrorKind::Other, format!("local:smollm2: {e}")))?
    }
}
