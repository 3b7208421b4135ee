//! The loopback HTTP server: `POST /v1/chat/completions` (plain and SSE) and `GET /v1/models`.
//!
//! Lean on purpose: it runs inside `mmsafe bench` processes whose CPU time per
//! request is the measured figure, so there is no logging and no per-request
//! allocation beyond parsing and the reply.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Fault, MockConfig, Reply, REFUSAL_TEXT};
use crate::request::{is_data_url, ChatBody, MockRequest};

/// Request bodies above this are rejected; large enough for several full-size images.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Counters since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `POST /v1/chat/completions` requests received (faulted ones included).
    pub requests: u64,
    /// `GET /v1/models` requests.
    pub model_requests: u64,
    /// `image_url` parts received, over all requests.
    pub image_parts: u64,
    /// `image_url` parts whose URL was not a base64 data URL (those requests got HTTP 400).
    pub bad_image_urls: u64,
    /// Requests answered with an injected fault.
    pub faults: u64,
    /// Requests with `stream: true`.
    pub streamed: u64,
    /// Most chat requests in flight at once.
    pub max_in_flight: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    model_requests: AtomicU64,
    image_parts: AtomicU64,
    bad_image_urls: AtomicU64,
    faults: AtomicU64,
    streamed: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

struct Shared {
    config: MockConfig,
    /// Lower-cased trigger words (for `Reply::RefuseHarmful`).
    triggers: Vec<String>,
    counters: Counters,
    recorded: Mutex<Vec<serde_json::Value>>,
    /// Query string of each chat request while recording (`""` for none).
    recorded_queries: Mutex<Vec<String>>,
}

/// A running mock server. Dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Bind `127.0.0.1:0` and serve until `shutdown()` or drop. Must be called
    /// inside a Tokio runtime.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let triggers = match &config.reply {
            Reply::RefuseHarmful { triggers } => {
                triggers.iter().map(|t| t.to_lowercase()).collect()
            }
            _ => Vec::new(),
        };
        let shared = Arc::new(Shared {
            config,
            triggers,
            counters: Counters::default(),
            recorded: Mutex::new(Vec::new()),
            recorded_queries: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            // An accept error ends the server; tests then see connection errors,
            // which is what a dead endpoint looks like anyway.
            let _ = serve.await;
        });
        Ok(MockServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `openai-compatible:<base_url>#<model>`, the target spec that reaches this server.
    pub fn target_spec(&self) -> String {
        format!(
            "openai-compatible:{}#{}",
            self.base_url(),
            self.shared.config.model
        )
    }

    /// Chat requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// `image_url` parts received so far.
    pub fn image_parts(&self) -> u64 {
        self.shared.counters.image_parts.load(Ordering::Relaxed)
    }

    /// Most chat requests that were in flight at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.counters.max_in_flight.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            model_requests: c.model_requests.load(Ordering::Relaxed),
            image_parts: c.image_parts.load(Ordering::Relaxed),
            bad_image_urls: c.bad_image_urls.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            streamed: c.streamed.load(Ordering::Relaxed),
            max_in_flight: c.max_in_flight.load(Ordering::Relaxed),
        }
    }

    /// Request bodies received, when `MockConfig::record_requests` is on.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        match self.shared.recorded.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The query string of each chat request (`""` for none), when
    /// `MockConfig::record_requests` is on: what a base URL like
    /// `…/v1?api-version=X` made the client send.
    pub fn request_queries(&self) -> Vec<String> {
        match self.shared.recorded_queries.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Stop accepting, give in-flight requests up to one second, then stop hard
    /// (a hanging fault would otherwise hold shutdown).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Decrements the in-flight gauge however the handler ends (including client disconnects).
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(c: &'a Counters) -> InFlight<'a> {
        let now = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(c)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn models(State(s): State<Arc<Shared>>) -> Response {
    s.counters.model_requests.fetch_add(1, Ordering::Relaxed);
    let body = json!({
        "object": "list",
        "data": [{"id": s.config.model, "object": "model", "created": 0, "owned_by": "mmsafe-testkit"}],
    });
    json_response(StatusCode::OK, body.to_string())
}

async fn chat(State(s): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let c = &s.counters;
    let index = c.requests.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlight::enter(c);

    if s.config.record_requests {
        let query = uri.query().unwrap_or_default().to_string();
        match s.recorded_queries.lock() {
            Ok(mut r) => r.push(query),
            Err(poisoned) => poisoned.into_inner().push(query),
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            match s.recorded.lock() {
                Ok(mut r) => r.push(v),
                Err(poisoned) => poisoned.into_inner().push(v),
            }
        }
    }

    if let Some(key) = &s.config.api_key {
        let expected = format!("Bearer {key}");
        let ok = headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == expected.as_bytes());
        if !ok {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "missing or wrong API key",
            );
        }
    }

    let parsed: ChatBody<'_> = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("request body is not a chat request: {e}"),
            )
        }
    };
    let req = MockRequest::from_body(index, &parsed, &s.config.image_hints);
    c.image_parts
        .fetch_add(req.image_urls.len() as u64, Ordering::Relaxed);
    let bad = req.image_urls.iter().filter(|u| !is_data_url(u)).count() as u64;
    if bad > 0 {
        c.bad_image_urls.fetch_add(bad, Ordering::Relaxed);
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_image_url",
            "image_url must be a base64 data URL",
        );
    }
    if parsed.stream {
        c.streamed.fetch_add(1, Ordering::Relaxed);
    }

    let fault = s.config.fault_for(index);
    if fault.is_some() {
        c.faults.fetch_add(1, Ordering::Relaxed);
    }
    // Reply text is computed before sleeping so the borrowed request need not live
    // across the await longer than necessary; it is cheap either way.
    let text = match fault {
        Some(Fault::ContentFilter) => None,
        _ => Some(reply_text(&s, &req)),
    };
    let prompt_tokens = count_tokens(&req);
    let model = if req.model.is_empty() {
        s.config.model.clone()
    } else {
        req.model.to_string()
    };
    let stream = parsed.stream;
    drop(req);
    drop(parsed);

    if !s.config.latency.is_zero() {
        tokio::time::sleep(s.config.latency).await;
    }

    match fault {
        Some(Fault::RateLimited { retry_after }) => {
            let mut resp = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "rate limit reached, retry later",
            );
            if let Some(v) = retry_after
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Some(Fault::ServerError) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "injected server error",
            )
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error_response(status, "injected_error", "injected error status");
        }
        Some(Fault::MalformedJson) => {
            let body = if stream {
                "data: {\"choices\": [{\"delta\": \n\n"
            } else {
                "{\"id\": \"chatcmpl-mock\", \"choices\": [{\"message\": {\"content\": \"trunc"
            };
            let ct = if stream {
                "text/event-stream"
            } else {
                "application/json"
            };
            return ([(header::CONTENT_TYPE, ct)], body).into_response();
        }
        Some(Fault::Hang(d)) => tokio::time::sleep(*d).await,
        Some(Fault::ContentFilter) | None => {}
    }

    let finish = if text.is_some() {
        "stop"
    } else {
        "content_filter"
    };
    let completion_tokens = text.as_deref().map_or(0, word_count);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let created = unix_now();
    let id = format!("chatcmpl-mock-{index}");
    if stream {
        sse_response(&id, created, &model, text.as_deref(), finish, usage)
    } else {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }],
            "usage": usage,
        });
        json_response(StatusCode::OK, body.to_string())
    }
}

fn reply_text(s: &Shared, req: &MockRequest<'_>) -> String {
    match &s.config.reply {
        Reply::Echo => req.prompt().to_string(),
        Reply::Fixed(t) => t.clone(),
        Reply::With(f) => f(req),
        Reply::RefuseHarmful { .. } => {
            let harmful = req
                .user_text()
                .chain(req.image_hints())
                .any(|t| contains_trigger(t, &s.triggers));
            if harmful {
                REFUSAL_TEXT.to_string()
            } else {
                format!(
                    "Sure, happy to help. Here is an answer to your request: {}",
                    first_words(req.prompt(), 12)
                )
            }
        }
    }
}

fn contains_trigger(text: &str, triggers: &[String]) -> bool {
    if triggers.is_empty() || text.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    triggers.iter().any(|t| lower.contains(t.as_str()))
}

fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A stable stand-in for a tokenizer: words of all messages, plus a flat cost per image.
fn count_tokens(req: &MockRequest<'_>) -> u64 {
    const TOKENS_PER_IMAGE: u64 = 85;
    let words: u64 = req.messages.iter().map(|(_, t)| word_count(t)).sum();
    words + TOKENS_PER_IMAGE * req.image_urls.len() as u64
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": code, "code": code}});
    json_response(status, body.to_string())
}

/// The whole event stream in one body: role chunk, content chunks (one per word),
/// finish chunk, usage chunk, `[DONE]`.
fn sse_response(
    id: &str,
    created: u64,
    model: &str,
    text: Option<&str>,
    finish: &str,
    usage: serde_json::Value,
) -> Response {
    let mut out = String::new();
    let mut push = |choices: serde_json::Value, usage: Option<&serde_json::Value>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        });
        if let Some(u) = usage {
            chunk["usage"] = u.clone();
        }
        out.push_str("data: ");
        out.push_str(&chunk.to_string());
        out.push_str("\n\n");
    };
    push(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    );
    for piece in text.unwrap_or("").split_inclusive(' ') {
        push(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
            None,
        );
    }
    push(
        json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
        None,
    );
    push(json!([]), Some(&usage));
    out.push_str("data: [DONE]\n\n");
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from(out),
    )
        .into_response()
}
