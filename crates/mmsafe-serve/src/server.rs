//! The axum application: routes, handlers, start and graceful shutdown.

use crate::audit::{AuditLog, Record};
use crate::auth::{bearer, Keys};
use crate::config::ServeConfig;
use crate::convert::{to_request, ImagePolicy};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::slots::{Slots, Unguarded};
use crate::stacks::Stacks;
use crate::wire;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mmsafe_core::{DynTarget, FinishReason, GuardEvent};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("http client: {0}")]
    Client(String),
    #[error("{0}")]
    Upstream(String),
}

struct AppState {
    cfg: ServeConfig,
    keys: Keys,
    metrics: Metrics,
    audit: Mutex<Option<AuditLog>>,
    stacks: Mutex<Stacks>,
    slots: Arc<Slots>,
    client: reqwest::Client,
    inflight: InFlight,
}

/// Chat requests still being worked on, including those whose client has
/// gone: shutdown waits for them so their audit rows are written.
#[derive(Default)]
struct InFlight {
    n: AtomicUsize,
    idle: Notify,
}

struct Ticket(Arc<AppState>);

impl InFlight {
    fn enter(state: &Arc<AppState>) -> Ticket {
        state.inflight.n.fetch_add(1, Ordering::SeqCst);
        Ticket(state.clone())
    }
    async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            if self.n.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.inflight.n.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.inflight.idle.notify_waiters();
        }
    }
}

/// How long shutdown waits for requests whose client has gone.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// A running proxy.
pub struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    state: Arc<AppState>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Stop accepting, finish in-flight requests, flush the audit log.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.join().await
    }

    /// Serve until `signal` resolves, then shut down gracefully.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        signal.await;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.join().await
    }

    async fn join(&mut self) -> std::io::Result<()> {
        let r = match self.task.take() {
            Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.state.inflight.drained()).await;
        let log = self
            .state
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut log) = log {
            tokio::task::spawn_blocking(move || log.close()).await.ok();
        }
        r
    }
}

/// Bind and start serving in the background.
pub async fn start(cfg: ServeConfig) -> Result<Running, ServeError> {
    crate::config::check_upstream_url(&cfg.upstream_url).map_err(ServeError::Upstream)?;
    let audit = match &cfg.audit_path {
        Some(p) => Some(AuditLog::open(p)?),
        None => None,
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| ServeError::Client(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let state = Arc::new(AppState {
        keys: Keys::new(&cfg.api_keys),
        metrics: Metrics::default(),
        audit: Mutex::new(audit),
        stacks: Mutex::new(Stacks::new(cfg.limits.max_models)),
        slots: Slots::new(cfg.limits.guard_concurrency, cfg.limits.guard_queue),
        client,
        inflight: InFlight::default(),
        cfg,
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(state.cfg.limits.max_body_bytes))
        .with_state(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, policy = %state.cfg.policy_name, "mmsafe serve listening");
    Ok(Running {
        addr,
        stop: Some(stop),
        task: Some(task),
        state,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if !state.keys.enabled() {
        return Ok("anonymous".into());
    }
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or_else(ApiError::unauthorized)?;
    state
        .keys
        .check(token)
        .map(|i| format!("key-{}", i + 1))
        .ok_or_else(ApiError::unauthorized)
}

fn stack_for(state: &AppState, model: &str) -> Result<DynTarget, ApiError> {
    let mut stacks = state.stacks.lock().unwrap_or_else(|p| p.into_inner());
    stacks.get_or_build(model, || {
        let upstream = (state.cfg.upstream)(model).map_err(|m| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "model_not_found",
                m,
            )
        })?;
        let upstream: DynTarget = Arc::new(Unguarded(upstream));
        Ok(match &state.cfg.guard {
            Some(g) => g.layer(upstream),
            None => upstream,
        })
    })
}

/// `block` when a layer answered, else the most important decision any
/// layer made: a layer that failed (and was let through, fail-open) outranks
/// a rewrite or flag, because then part of the policy did not run.
fn overall(finish: &FinishReason, events: &[GuardEvent]) -> &'static str {
    if *finish == FinishReason::GuardBlocked {
        return "block";
    }
    let has = |d: &str| events.iter().any(|e| e.decision == d);
    if has("error") {
        "error_open"
    } else if has("rewrite") {
        "rewrite"
    } else if has("flag") {
        "flag"
    } else {
        "pass"
    }
}

/// Bytes read past the body limit so the 413 reaches the client on a clean
/// connection (closing a socket with unread data resets it, and the client
/// may lose the answer); beyond this, or after `DRAIN_TIME`, the connection
/// is simply closed.
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The request body, at most `max` bytes. An oversized body is drained
/// (bounded) and answered 413 with `Connection: close`, so a pooled
/// keep-alive client's next request goes out on a fresh connection.
async fn read_body(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, ApiError> {
    use futures::StreamExt as _;
    let too_large = || ApiError::too_large(format!("request body exceeds {max} bytes")).closing();
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(max as u64) as usize);
    let mut over = declared.is_some_and(|n| n > max as u64);
    if !over {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(format!("reading the request body: {e}")).closing()
            })?;
            if buf.len() + chunk.len() > max {
                over = true;
                break;
            }
            buf.extend_from_slice(&chunk);
        }
    }
    if !over {
        return Ok(Bytes::from(buf));
    }
    drop(buf);
    drain(stream).await;
    Err(too_large())
}

/// Read and discard what is left of a body (bounded in bytes and time), so
/// an error answer reaches a client that is still sending instead of a reset
/// connection.
async fn drain(mut stream: axum::body::BodyDataStream) {
    use futures::StreamExt as _;
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

/// The status recorded for a request whose client hung up before the answer
/// (nginx's "client closed request").
const CLIENT_GONE: u16 = 499;

fn request_id() -> String {
    format!("chatcmpl-{:016x}", rand::random::<u64>())
}

/// The work runs in its own task, so a client that hangs up does not cancel
/// it halfway: the upstream call, metrics and audit row complete either way
/// (recorded with status 499 when the answer could not be delivered).
async fn chat(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let (tx, rx) = oneshot::channel();
    let ticket = InFlight::enter(&state);
    tokio::spawn(async move {
        let _ticket = ticket;
        work(&state, &headers, body, tx).await;
    });
    rx.await.unwrap_or_else(|_| {
        ApiError::internal("the request failed inside the proxy").into_response()
    })
}

async fn work(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    tx: oneshot::Sender<Response>,
) {
    let t0 = Instant::now();
    let id = request_id();
    let mut model = String::new();
    let mut client = String::from("-");
    let outcome = handle(state, headers, body, &id, &mut model, &mut client).await;
    let seconds = t0.elapsed().as_secs_f64();
    let (resp, decision, events) = match outcome {
        Ok((resp, decision, events)) => (resp, decision, events),
        Err(e) => {
            let decision = if e.status == StatusCode::UNAUTHORIZED {
                "unauthorized"
            } else {
                "error"
            };
            tracing::info!(request_id = %id, status = e.status.as_u16(), "{}", e.message);
            let mut resp = e.clone().into_response();
            if e.close {
                // The body may be unread: the connection cannot carry another request.
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    HeaderValue::from_static("close"),
                );
            }
            (resp, decision, String::from("[]"))
        }
    };
    let status = resp.status().as_u16();
    let status = if tx.send(resp).is_err() {
        CLIENT_GONE
    } else {
        status
    };
    state.metrics.request(decision);
    state.metrics.response(status, seconds);
    if let Some(log) = state
        .audit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        log.record(Record {
            ts_ms: now_ms(),
            request_id: id,
            client,
            model,
            policy: state.cfg.policy_name.clone(),
            decision: decision.to_string(),
            status,
            latency_ms: seconds * 1000.0,
            events,
        });
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    id: &str,
    model_out: &mut String,
    client_out: &mut String,
) -> Result<(Response, &'static str, String), ApiError> {
    let client = match authorize(state, headers) {
        Ok(c) => c,
        Err(e) => {
            drain(body.into_data_stream()).await;
            return Err(e.closing());
        }
    };
    client_out.clone_from(&client);
    let body = read_body(body, headers, state.cfg.limits.max_body_bytes).await?;
    let chat: wire::ChatRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    *model_out = chat.model.clone();
    let policy = ImagePolicy {
        limits: &state.cfg.limits,
        hosts: &state.cfg.image_hosts,
        client: &state.client,
    };
    let (req, images) = to_request(&chat, &policy).await?;
    let target = stack_for(state, &chat.model)?;
    // Guard work (and image decoding, guard or not) waits for a slot.
    let held = if state.cfg.guard.is_some() || !images.is_empty() {
        Some(state.slots.admit().await.map_err(|_| ApiError::busy())?)
    } else {
        None
    };
    if !images.is_empty() {
        crate::images::check_off_runtime(images, state.cfg.limits.clone()).await?;
    }
    let call = mmsafe_guard::ocr_cache::scoped(Arc::from(client.as_str()), target.call(req));
    let result = match held {
        Some(h) => crate::slots::holding(h, call).await,
        None => call.await,
    };
    let resp = result.map_err(|e| {
        state.metrics.upstream_error(e.kind.as_str());
        tracing::debug!(request_id = %id, "{}", e.message);
        ApiError::from_target(&e, &state.cfg.upstream_url)
    })?;
    for e in &resp.events {
        state.metrics.event(&e.layer, &e.decision);
    }
    let decision = overall(&resp.finish_reason, &resp.events);
    let events = serde_json::to_string(&resp.events).unwrap_or_else(|_| "[]".into());
    let created = now_ms() / 1000;
    let mut out = if chat.stream {
        stream(
            id,
            created,
            &chat.model,
            &resp,
            chat.stream_options
                .as_ref()
                .is_some_and(|o| o.include_usage),
        )
    } else {
        axum::Json(wire::completion(id, created, &chat.model, &resp)).into_response()
    };
    out.headers_mut()
        .insert("x-mmsafe-decision", HeaderValue::from_static(decision));
    Ok((out, decision, events))
}

/// SSE stream of an answer that has already passed every output check.
///
/// Buffer-then-check: the upstream answer is complete before the first chunk
/// is sent, so output layers see the whole text and a blocked answer never
/// reaches the client even partially. The cost is time to first token equal
/// to the full generation time.
fn stream(id: &str, created: u64, model: &str, r: &mmsafe_core::Response, usage: bool) -> Response {
    let mut events: Vec<Result<Event, Infallible>> = Vec::new();
    let ev = |v: serde_json::Value| Ok(Event::default().data(v.to_string()));
    events.push(ev(wire::chunk(
        id,
        created,
        model,
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
    )));
    for p in wire::pieces(&r.text, 24) {
        events.push(ev(wire::chunk(
            id,
            created,
            model,
            serde_json::json!({"content": p}),
            None,
        )));
    }
    events.push(ev(wire::chunk(
        id,
        created,
        model,
        serde_json::json!({}),
        Some(wire::finish_reason(&r.finish_reason)),
    )));
    if usage {
        events.push(ev(wire::usage_chunk(id, created, model, &r.usage)));
    }
    events.push(Ok(Event::default().data("[DONE]")));
    Sse::new(futures::stream::iter(events)).into_response()
}

async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return e.into_response();
    }
    // Keep a query on the upstream URL (Azure-style `?api-version=`) after the path.
    let url = mmsafe_target::endpoint_url(&state.cfg.upstream_url, "models")
        .unwrap_or_else(|_| format!("{}/models", state.cfg.upstream_url.trim_end_matches('/')));
    let shown = mmsafe_target::redact_url(&url);
    let mut req = state.client.get(&url);
    if let Some(k) = &state.cfg.upstream_key {
        req = req.bearer_auth(&k.0);
    }
    let upstream = async {
        // reqwest errors embed the URL, which may carry credentials.
        let r = req.send().await.map_err(|e| e.without_url().to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status()));
        }
        r.json::<serde_json::Value>()
            .await
            .map_err(|e| e.without_url().to_string())
    }
    .await;
    match upstream {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            // Fall back to the models this proxy has served so far. The
            // upstream address stays out of warnings (debug only).
            tracing::warn!("listing upstream models: {}", crate::error::scrub_urls(&e));
            tracing::debug!("listing upstream models at {shown}: {e}");
            let seen = state
                .stacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .names();
            axum::Json(wire::ModelList {
                object: "list",
                data: seen
                    .into_iter()
                    .map(|id| wire::ModelEntry {
                        id,
                        object: "model",
                        created: 0,
                        owned_by: "upstream".into(),
                    })
                    .collect(),
            })
            .into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
        .into_response()
}
