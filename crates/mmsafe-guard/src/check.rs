//! `Check`: the easy shape for a guard that looks at a request or a response
//! once and passes, rewrites, flags or blocks it. [`CheckLayer`] turns any
//! check into a core `Layer`, records a `GuardEvent` per decision and answers
//! blocked requests itself, without calling the inner target.
//!
//! Guards that must call the model several times (JailGuard, ECSO) implement
//! `Layer` directly instead.

use crate::error::GuardError;
use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, FinishReason, GuardEvent, Layer, Request, Response, Target, TargetError,
    TargetErrorKind, TargetInfo, Usage,
};
use std::sync::Arc;
use std::time::Instant;

/// What a check decided about one request or response.
#[derive(Debug, Clone)]
pub enum Action<T> {
    Pass,
    /// Suspicious but let through; recorded only.
    Flag,
    /// Continue with this replacement.
    Rewrite(T),
    /// Answer with the policy's refusal.
    Block,
}

/// A decision with its reason and cost, as recorded in the `GuardEvent`.
#[derive(Debug, Clone)]
pub struct Decision<T> {
    pub action: Action<T>,
    pub reason: String,
    pub detail: serde_json::Value,
    pub extra_calls: u32,
    pub extra_usage: Usage,
}

impl<T> Decision<T> {
    fn with(action: Action<T>, reason: impl Into<String>) -> Decision<T> {
        Decision {
            action,
            reason: reason.into(),
            detail: serde_json::Value::Null,
            extra_calls: 0,
            extra_usage: Usage::default(),
        }
    }
    pub fn pass(reason: impl Into<String>) -> Decision<T> {
        Decision::with(Action::Pass, reason)
    }
    pub fn flag(reason: impl Into<String>) -> Decision<T> {
        Decision::with(Action::Flag, reason)
    }
    pub fn block(reason: impl Into<String>) -> Decision<T> {
        Decision::with(Action::Block, reason)
    }
    pub fn rewrite(value: T, reason: impl Into<String>) -> Decision<T> {
        Decision::with(Action::Rewrite(value), reason)
    }
    pub fn detail(mut self, detail: serde_json::Value) -> Decision<T> {
        self.detail = detail;
        self
    }
    pub fn cost(mut self, calls: u32, usage: Usage) -> Decision<T> {
        self.extra_calls += calls;
        self.extra_usage.add(usage);
        self
    }

    /// `pass`, `flag`, `rewrite` or `block`.
    pub fn label(&self) -> &'static str {
        match self.action {
            Action::Pass => "pass",
            Action::Flag => "flag",
            Action::Rewrite(_) => "rewrite",
            Action::Block => "block",
        }
    }

    pub fn event(&self, layer: &str, phase: Phase, latency_ms: f64) -> GuardEvent {
        let mut detail = match &self.detail {
            serde_json::Value::Object(m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other.clone());
                m
            }
        };
        detail.insert("phase".into(), phase.as_str().into());
        GuardEvent {
            layer: layer.to_string(),
            decision: self.label().to_string(),
            reason: self.reason.clone(),
            latency_ms,
            extra_calls: self.extra_calls,
            extra_usage: self.extra_usage,
            detail: serde_json::Value::Object(detail),
        }
    }
}

/// Which side of the target a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Request,
    Response,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Response => "response",
        }
    }
}

/// A single-shot guard. Implement `on_request`, `on_response` or both, and say
/// which in `checks_request` / `checks_response` (only those phases record events).
#[async_trait]
pub trait Check: Send + Sync {
    fn name(&self) -> &str;
    fn checks_request(&self) -> bool {
        true
    }
    fn checks_response(&self) -> bool {
        false
    }
    /// Load or precompute what the first request would otherwise pay for
    /// (embedding a prompt library, classifier prototypes). Blocking.
    fn warm_up(&self) -> Result<(), GuardError> {
        Ok(())
    }
    async fn on_request(&self, _req: &Request) -> Result<Decision<Request>, GuardError> {
        Ok(Decision::pass(""))
    }
    async fn on_response(
        &self,
        _req: &Request,
        _resp: &Response,
    ) -> Result<Decision<Response>, GuardError> {
        Ok(Decision::pass(""))
    }
}

/// Settings shared by every layer of a policy.
#[derive(Debug, Clone)]
pub struct GuardOptions {
    /// Let the request through (recording an `error` event) when a layer fails.
    pub fail_open: bool,
    /// The answer of a blocked request or response.
    pub refusal: Arc<str>,
}

/// The refusal every preset uses: short, unambiguous, and matched by the
/// refusal judges.
pub const DEFAULT_REFUSAL: &str = "I'm sorry, but I can't help with that request.";

impl Default for GuardOptions {
    fn default() -> Self {
        GuardOptions {
            fail_open: false,
            refusal: Arc::from(DEFAULT_REFUSAL),
        }
    }
}

impl GuardOptions {
    /// The answer a layer gives instead of the target's.
    pub fn blocked_response(
        &self,
        info: &TargetInfo,
        events: Vec<GuardEvent>,
        latency_ms: f64,
    ) -> Response {
        Response {
            text: self.refusal.to_string(),
            finish_reason: FinishReason::GuardBlocked,
            latency_ms,
            model: Some(info.model.clone()),
            events,
            ..Response::text("")
        }
    }

    /// Turn a layer failure into the error (fail-closed) or an `error` event
    /// (fail-open).
    pub fn on_error(
        &self,
        err: GuardError,
        phase: Phase,
        latency_ms: f64,
    ) -> Result<GuardEvent, TargetError> {
        if !self.fail_open {
            return Err(TargetError::new(TargetErrorKind::Guard, err.to_string()));
        }
        Ok(GuardEvent {
            layer: err.layer.clone(),
            decision: "error".into(),
            reason: err.message,
            latency_ms,
            extra_calls: 0,
            extra_usage: Usage::default(),
            detail: serde_json::json!({"phase": phase.as_str(), "fail_open": true}),
        })
    }
}

/// Any `Check` as a core `Layer`.
pub struct CheckLayer {
    check: Arc<dyn Check>,
    opts: GuardOptions,
}

impl CheckLayer {
    pub fn new(check: Arc<dyn Check>, opts: GuardOptions) -> CheckLayer {
        CheckLayer { check, opts }
    }
    pub fn check(&self) -> &Arc<dyn Check> {
        &self.check
    }
}

impl Layer for CheckLayer {
    fn name(&self) -> &str {
        self.check.name()
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(Checked {
            check: self.check.clone(),
            opts: self.opts.clone(),
            inner,
        })
    }
}

struct Checked {
    check: Arc<dyn Check>,
    opts: GuardOptions,
    inner: DynTarget,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[async_trait]
impl Target for Checked {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, mut req: Request) -> Result<Response, TargetError> {
        let name = self.check.name();
        let mut events = Vec::new();
        let mut guard_ms = 0.0;
        if self.check.checks_request() {
            let t = Instant::now();
            match self.check.on_request(&req).await {
                Ok(d) => {
                    let ms = ms_since(t);
                    guard_ms += ms;
                    events.push(d.event(name, Phase::Request, ms));
                    match d.action {
                        Action::Block => {
                            return Ok(self.opts.blocked_response(self.info(), events, ms));
                        }
                        Action::Rewrite(r) => req = r,
                        Action::Pass | Action::Flag => {}
                    }
                }
                Err(e) => {
                    let ms = ms_since(t);
                    guard_ms += ms;
                    events.push(self.opts.on_error(e.in_layer(name), Phase::Request, ms)?);
                }
            }
        }
        let keep_req = self.check.checks_response().then(|| req.clone());
        let mut resp = self.inner.call(req).await?;
        if !events.is_empty() {
            events.append(&mut resp.events);
            resp.events = events;
        }
        if let Some(req) = keep_req {
            let t = Instant::now();
            match self.check.on_response(&req, &resp).await {
                Ok(d) => {
                    let ms = ms_since(t);
                    guard_ms += ms;
                    let ev = d.event(name, Phase::Response, ms);
                    match d.action {
                        Action::Block => {
                            resp.text = self.opts.refusal.to_string();
                            resp.finish_reason = FinishReason::GuardBlocked;
                        }
                        Action::Rewrite(r) => {
                            let events = std::mem::take(&mut resp.events);
                            resp = Response { events, ..r };
                        }
                        Action::Pass | Action::Flag => {}
                    }
                    resp.events.push(ev);
                }
                Err(e) => {
                    let ms = ms_since(t);
                    guard_ms += ms;
                    let ev = self.opts.on_error(e.in_layer(name), Phase::Response, ms)?;
                    resp.events.push(ev);
                }
            }
        }
        resp.latency_ms += guard_ms;
        Ok(resp)
    }
}
