//! `Target`: anything that answers a multimodal chat request.
//!
//! HTTP providers, the built-in local model, LLM judges and model-using defenses
//! all go through this one trait, so retries, rate limits, caching and cost
//! accounting are written once, as `Layer`s around a target.

use crate::case::{Case, Message};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A chat request as the pipeline sends it to a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// `None` lets the target use its default; the scan engine sends 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl Request {
    pub fn new(messages: Vec<Message>) -> Request {
        Request {
            messages,
            max_tokens: None,
            temperature: None,
            top_p: None,
            seed: None,
            stop: Vec::new(),
        }
    }

    /// The request the scan sends for a case: its messages, greedy decoding.
    pub fn from_case(case: &Case, max_tokens: Option<u32>) -> Request {
        Request {
            max_tokens,
            temperature: Some(0.0),
            ..Request::new(case.messages.clone())
        }
    }

    /// Text of the last user message.
    pub fn prompt_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == crate::case::Role::User)
            .map(Message::text)
            .unwrap_or_default()
    }

    pub fn images(&self) -> impl Iterator<Item = &crate::case::Image> {
        self.messages.iter().flat_map(|m| m.images())
    }

    /// Deterministic decoding (temperature absent or zero): safe to cache.
    pub fn is_deterministic(&self) -> bool {
        self.temperature.is_none_or(|t| t == 0.0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    /// The provider's own moderation withheld the answer. Not a refusal by the
    /// model: judges must return `undecided` for it, never `refused`.
    ContentFilter,
    /// One of our guard layers blocked the request or the answer and replied
    /// with a refusal itself. This *is* a refusal of the defended system.
    GuardBlocked,
    Other(String),
}

impl FinishReason {
    pub fn parse(s: &str) -> FinishReason {
        match s {
            "stop" | "end_turn" | "eos" | "stop_sequence" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" | "safety" => FinishReason::ContentFilter,
            "guard_blocked" => FinishReason::GuardBlocked,
            other => FinishReason::Other(other.to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::GuardBlocked => "guard_blocked",
            FinishReason::Other(s) => s,
        }
    }
}

/// One decision of a guard layer, carried on the response to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvent {
    /// Layer name, e.g. `ocr` or `prompt:static`.
    pub layer: String,
    /// `pass`, `flag`, `rewrite`, `block` or `error`.
    pub decision: String,
    pub reason: String,
    pub latency_ms: f64,
    /// Model calls the layer made beyond the one the request itself needs.
    #[serde(default)]
    pub extra_calls: u32,
    #[serde(default)]
    pub extra_usage: Usage,
    /// Layer-specific findings (OCR text length, similarity score, …).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// A target's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub text: String,
    pub finish_reason: FinishReason,
    #[serde(default)]
    pub usage: Usage,
    /// Wall time of the call as seen by the caller, retries included.
    #[serde(default)]
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Served from the response cache.
    #[serde(default)]
    pub cached: bool,
    #[serde(default)]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<GuardEvent>,
}

impl Response {
    pub fn text(text: impl Into<String>) -> Response {
        Response {
            text: text.into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            latency_ms: 0.0,
            model: None,
            cached: false,
            retries: 0,
            events: Vec::new(),
        }
    }
}

/// Coarse error classes: what the store records and the metrics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetErrorKind {
    /// Could not connect (refused, DNS, TLS).
    Connect,
    Timeout,
    /// HTTP 429 after all retries.
    RateLimited,
    /// HTTP 5xx after all retries.
    Server,
    /// HTTP 401/403.
    Auth,
    /// Other HTTP 4xx: the request itself was rejected.
    BadRequest,
    /// The reply could not be parsed.
    Malformed,
    /// A guard layer failed (fail-closed).
    Guard,
    /// Misconfiguration (unknown model, missing key, bad spec).
    Config,
    Cancelled,
    Other,
}

impl TargetErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetErrorKind::Connect => "connect",
            TargetErrorKind::Timeout => "timeout",
            TargetErrorKind::RateLimited => "rate_limited",
            TargetErrorKind::Server => "server",
            TargetErrorKind::Auth => "auth",
            TargetErrorKind::BadRequest => "bad_request",
            TargetErrorKind::Malformed => "malformed",
            TargetErrorKind::Guard => "guard",
            TargetErrorKind::Config => "config",
            TargetErrorKind::Cancelled => "cancelled",
            TargetErrorKind::Other => "other",
        }
    }

    /// Worth retrying with backoff.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            TargetErrorKind::Connect
                | TargetErrorKind::Timeout
                | TargetErrorKind::RateLimited
                | TargetErrorKind::Server
        )
    }
}

impl fmt::Display for TargetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call. The message names the target (URL or spec) and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    pub kind: TargetErrorKind,
    pub message: String,
    /// Server-requested wait before retrying (from `Retry-After`), in seconds.
    pub retry_after_s: Option<f64>,
    /// Retries already spent when this error was returned.
    pub retries: u32,
}

impl TargetError {
    pub fn new(kind: TargetErrorKind, message: impl Into<String>) -> TargetError {
        TargetError {
            kind,
            message: message.into(),
            retry_after_s: None,
            retries: 0,
        }
    }
}

/// Static facts about a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The spec it was built from, e.g. `openai-compatible:http://127.0.0.1:8000/v1#llava`.
    /// Never contains secrets.
    pub spec: String,
    pub model: String,
    pub accepts_images: bool,
}

/// Anything that answers a multimodal chat request.
///
/// `&self`, not `&mut self`: one target is shared by many in-flight attempts.
/// Backpressure is explicit (concurrency and rate-limit layers), not `poll_ready`.
#[async_trait]
pub trait Target: Send + Sync {
    fn info(&self) -> &TargetInfo;
    async fn call(&self, req: Request) -> Result<Response, TargetError>;
}

pub type DynTarget = Arc<dyn Target>;

/// Wraps a target in another (operational layers and guard layers alike).
///
/// Order rule for stacks: the first layer in a list is the outermost and sees
/// the request first. `[audit, ocr, retry]` around `http` means the OCR guard
/// blocks before any retry happens, and retries never re-run the guard.
pub trait Layer: Send + Sync {
    fn name(&self) -> &str;
    fn layer(&self, inner: DynTarget) -> DynTarget;
}

/// Apply `layers` around `target`, first layer outermost.
pub fn stack(layers: &[Arc<dyn Layer>], target: DynTarget) -> DynTarget {
    layers
        .iter()
        .rev()
        .fold(target, |inner, layer| layer.layer(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(TargetInfo);
    #[async_trait]
    impl Target for Echo {
        fn info(&self) -> &TargetInfo {
            &self.0
        }
        async fn call(&self, req: Request) -> Result<Response, TargetError> {
            Ok(Response::text(req.prompt_text()))
        }
    }

    struct Prefix(&'static str);
    struct PrefixTarget(&'static str, DynTarget);
    #[async_trait]
    impl Target for PrefixTarget {
        fn info(&self) -> &TargetInfo {
            self.1.info()
        }
        async fn call(&self, req: Request) -> Result<Response, TargetError> {
            let mut r = self.1.call(req).await?;
            r.text = format!("{}{}", self.0, r.text);
            Ok(r)
        }
    }
    impl Layer for Prefix {
        fn name(&self) -> &str {
            self.0
        }
        fn layer(&self, inner: DynTarget) -> DynTarget {
            Arc::new(PrefixTarget(self.0, inner))
        }
    }

    #[test]
    fn stack_order_first_is_outermost() {
        let t: DynTarget = Arc::new(Echo(TargetInfo {
            spec: "echo".into(),
            model: "echo".into(),
            accepts_images: false,
        }));
        let layers: Vec<Arc<dyn Layer>> = vec![Arc::new(Prefix("a")), Arc::new(Prefix("b"))];
        let s = stack(&layers, t);
        let req = Request::new(vec![Message::user_text("x")]);
        let out = futures_lite_block_on(s.call(req)).unwrap();
        // Outermost layer post-processes last, so its prefix ends up first.
        assert_eq!(out.text, "abx");
    }

    /// Tiny executor so core needs no runtime dependency.
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
        fn noop(_: *const ()) {}
        fn clone(p: *const ()) -> RawWaker {
            RawWaker::new(p, &VTABLE)
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: the vtable functions do nothing with the data pointer.
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
