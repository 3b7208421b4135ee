//! `mmsafe ui`: a local web app over the run store — browse runs and
//! attempts, label attempts with the keyboard, see the judge measured against
//! people and the ASR calibrated with it.
//!
//! Server-rendered HTML (maud escapes every interpolated string), one static
//! script for keyboard labelling served under a strict Content-Security-Policy
//! (`script-src 'self'`, no inline script), images only from the store by
//! sha256 with a sniffed raster type, a CSRF token on every POST, a Host check
//! against DNS rebinding, and, off loopback, a required access token.
//! Model replies are adversarial content: they are only ever shown as escaped
//! text, never rendered as Markdown or HTML, and never turned into links.

mod pages;
mod security;
pub mod synthetic;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use mmsafe_store::{AttemptFilter, NewLabel, QueueOrder, RunIndex, Store};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use security::is_loopback;

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub store: PathBuf,
    /// Required on every request when set (`Authorization: Bearer`, or a
    /// cookie set by visiting `/?token=…` once).
    pub token: Option<String>,
    /// How many attempts of the random sample the queue serves before the
    /// disagreements and uncertain rows.
    pub sample_size: usize,
    /// The address the server is bound to (for the Host check).
    pub listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(transparent)]
    Store(#[from] mmsafe_store::StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            UiError::Store(mmsafe_store::StoreError::RunNotFound { .. })
            | UiError::Store(mmsafe_store::StoreError::AttemptNotFound { .. })
            | UiError::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()),
            UiError::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            _ => {
                tracing::warn!("ui: {self}");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
            }
        };
        (status, pages::error_page(status.as_u16(), &msg)).into_response()
    }
}

type UiResult<T> = Result<T, UiError>;

/// Shared by every request.
pub(crate) struct AppState {
    cfg: UiConfig,
    /// Open stores waiting for a request (a `Store` is not `Sync`; each
    /// blocking task takes one and gives it back).
    pool: Mutex<Vec<Store>>,
    /// The CSRF token of this server process (random, never stored).
    pub(crate) csrf: String,
    /// Queue orders by (run, judge): fixed for a run, so computed once.
    queues: Mutex<HashMap<(String, String), Arc<QueueOrder>>>,
    /// In-memory attempt indexes by run, rebuilt when attempts change.
    indexes: Mutex<HashMap<String, Arc<RunIndex>>>,
    /// Rendered overviews' data by (run, judge), with what they were computed at.
    overviews: Mutex<HashMap<(String, String), CachedOverview>>,
    /// Bumped by every label this process writes (the store's fingerprint
    /// has one-second resolution).
    label_gen: AtomicU64,
}

/// An overview's data and what it was computed at.
type CachedOverview = (OverviewStamp, Arc<pages::OverviewData>);

/// What an overview depends on: the attempts and the labels.
#[derive(Debug, Clone, PartialEq)]
struct OverviewStamp {
    attempts: i64,
    labels: (i64, String),
    label_gen: u64,
}

impl AppState {
    /// The run's attempt index, rebuilt when the store's attempts changed.
    fn index(&self, s: &Store, run_id: &str) -> UiResult<Arc<RunIndex>> {
        let version = s.attempts_version()?;
        let cached = self
            .indexes
            .lock()
            .ok()
            .and_then(|m| m.get(run_id).cloned())
            .filter(|i| i.version == version);
        if let Some(i) = cached {
            return Ok(i);
        }
        let i = Arc::new(s.run_index(run_id)?);
        if let Ok(mut m) = self.indexes.lock() {
            m.insert(run_id.to_string(), i.clone());
        }
        Ok(i)
    }

    /// Run `f` on a pooled store, off the async runtime.
    async fn with_store<T, F>(self: &Arc<Self>, f: F) -> UiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> UiResult<T> + Send + 'static,
    {
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = st
                .pool
                .lock()
                .map_err(|_| UiError::Internal("pool poisoned".into()))?
                .pop();
            let mut store = match taken {
                Some(s) => s,
                None => Store::open(&st.cfg.store)?,
            };
            let out = f(&mut store);
            if let Ok(mut pool) = st.pool.lock() {
                pool.push(store);
            }
            out
        })
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?
    }
}

/// The app's routes, with the security layers around them.
pub fn router(cfg: UiConfig) -> Result<Router, UiError> {
    let first = Store::open(&cfg.store)?;
    let state = Arc::new(AppState {
        cfg,
        pool: Mutex::new(vec![first]),
        csrf: security::random_token(),
        queues: Mutex::new(HashMap::new()),
        indexes: Mutex::new(HashMap::new()),
        overviews: Mutex::new(HashMap::new()),
        label_gen: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/", get(runs_page))
        .route("/annotator", get(annotator_page).post(set_annotator))
        .route("/compare", get(compare_page))
        .route("/runs/{run}", get(overview_page))
        .route("/runs/{run}/attempts", get(attempts_page))
        .route("/runs/{run}/queue", get(queue_next))
        .route("/runs/{run}/attempts/{key}", get(attempt_page))
        .route("/runs/{run}/attempts/{key}/label", post(post_label))
        .route("/img/{sha}", get(image))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state);
    Ok(app)
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

type St = State<Arc<AppState>>;

fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// The annotator chosen at start (a cookie holding the name's UTF-8 in hex,
/// so any name survives cookie syntax).
fn annotator(headers: &HeaderMap) -> Option<String> {
    let raw = security::cookie(headers, security::ANNOTATOR_COOKIE)?;
    let bytes = hex::decode(raw).ok()?;
    let name = String::from_utf8(bytes).ok()?;
    mmsafe_store::valid_annotator(&name).then(|| name.trim().to_string())
}

#[derive(Deserialize, Default)]
struct RunsQuery {
    #[serde(default)]
    q: String,
}

async fn runs_page(
    State(st): St,
    Query(q): Query<RunsQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let needle = q.q.clone();
    let runs = st
        .with_store(move |s| {
            let mut runs = s.list_runs()?;
            for r in &mut runs {
                r.run.plan.target = mmsafe_target::redact_spec(&r.run.plan.target);
            }
            let n = needle.to_lowercase();
            runs.retain(|r| {
                n.is_empty()
                    || r.run.id.to_lowercase().contains(&n)
                    || r.run
                        .name
                        .as_deref()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(&n)
                    || r.run.plan.target.to_lowercase().contains(&n)
            });
            let mut out = Vec::new();
            for r in runs {
                let labels = s.labels_fingerprint(&r.run.id)?.0 as usize;
                out.push((r, labels));
            }
            Ok(out)
        })
        .await?;
    Ok(html(pages::runs(&st.ctx(&headers), &q.q, &runs)))
}

impl AppState {
    fn ctx(&self, headers: &HeaderMap) -> pages::Ctx {
        pages::Ctx {
            csrf: self.csrf.clone(),
            annotator: annotator(headers),
        }
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn annotator_page(State(st): St, Query(q): Query<NextQuery>, headers: HeaderMap) -> Response {
    html(pages::annotator(&st.ctx(&headers), &safe_next(&q.next)))
}

/// Only same-site paths are followed after a form (no open redirect).
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/".to_string()
    }
}

#[derive(Deserialize)]
struct AnnotatorForm {
    name: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

async fn set_annotator(
    State(st): St,
    headers: HeaderMap,
    Form(f): Form<AnnotatorForm>,
) -> UiResult<Response> {
    security::check_csrf(&st, &headers, &f.csrf)?;
    if !mmsafe_store::valid_annotator(&f.name) {
        return Err(UiError::BadRequest(
            "an annotator name has 1 to 64 characters and no control characters".into(),
        ));
    }
    let cookie = format!(
        "{}={}; Path=/; SameSite=Strict; HttpOnly; Max-Age=31536000",
        security::ANNOTATOR_COOKIE,
        hex::encode(f.name.trim().as_bytes())
    );
    let mut r = Redirect::to(&safe_next(&f.next)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| UiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

#[derive(Deserialize, Default)]
struct JudgeQuery {
    #[serde(default)]
    judge: Option<String>,
}

async fn overview_page(
    State(st): St,
    Path(run): Path<String>,
    Query(q): Query<JudgeQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let st2 = st.clone();
    let data = st
        .with_store(move |s| {
            let id = s.resolve_run(&run)?.id;
            let judge = q.judge.unwrap_or_default();
            let stamp = OverviewStamp {
                attempts: s.attempts_version()?,
                labels: s.labels_fingerprint(&id)?,
                label_gen: st2.label_gen.load(Ordering::SeqCst),
            };
            let key = (id.clone(), judge.clone());
            let cached = st2
                .overviews
                .lock()
                .ok()
                .and_then(|m| m.get(&key).cloned())
                .filter(|(at, _)| *at == stamp);
            if let Some((_, d)) = cached {
                return Ok(d);
            }
            // The figures of a 100,000-attempt run take a while to compute;
            // they change only with the attempts or the labels.
            let d = Arc::new(pages::overview_data(s, &id, Some(judge.as_str()))?);
            if let Ok(mut m) = st2.overviews.lock() {
                m.insert(key, (stamp, d.clone()));
            }
            Ok(d)
        })
        .await?;
    Ok(html(pages::overview(&st.ctx(&headers), &data)))
}

/// The attempts table's query string: every field a string, so an empty
/// form field is "no filter" rather than a parse error.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(default)]
pub(crate) struct FilterQuery {
    pub hazard: String,
    pub attack: String,
    pub defense: String,
    pub repeat: String,
    pub judge: String,
    pub verdict: String,
    pub disagree: String,
    pub undecided: String,
    pub errors: String,
    pub labelled: String,
    pub q: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub page: String,
}

impl FilterQuery {
    pub(crate) fn filter(&self) -> AttemptFilter {
        let opt = |s: &String| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let on = |s: &String| matches!(s.as_str(), "1" | "on" | "true" | "yes");
        AttemptFilter {
            hazard: opt(&self.hazard),
            attack: opt(&self.attack),
            defense: opt(&self.defense),
            repeat: self.repeat.trim().parse().ok(),
            judge: opt(&self.judge),
            verdict: opt(&self.verdict),
            disagree: on(&self.disagree),
            undecided: on(&self.undecided),
            errors: on(&self.errors),
            labelled: match self.labelled.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            q: opt(&self.q),
        }
    }

    /// The query string without `page` (empty fields dropped).
    pub(crate) fn query_string(&self) -> String {
        let mut f = self.clone();
        f.page.clear();
        let pairs: Vec<(&str, String)> = serde_json::to_value(&f)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                let mut out = Vec::new();
                for (k, v) in m {
                    if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                        out.push((leak_key(&k), s.to_string()));
                    }
                }
                out
            })
            .unwrap_or_default();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// Field names of [`FilterQuery`] as `&'static str` (the set is fixed).
fn leak_key(k: &str) -> &'static str {
    const KEYS: [&str; 12] = [
        "hazard",
        "attack",
        "defense",
        "repeat",
        "judge",
        "verdict",
        "disagree",
        "undecided",
        "errors",
        "labelled",
        "q",
        "page",
    ];
    KEYS.into_iter().find(|x| *x == k).unwrap_or("q")
}

pub(crate) const PAGE_SIZE: u64 = 50;

async fn attempts_page(
    State(st): St,
    Path(run): Path<String>,
    Query(q): Query<FilterQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let page: u64 = q.page.parse().unwrap_or(0);
    let filter = q.filter();
    let st2 = st.clone();
    let data = st
        .with_store(move |s| {
            let run = s.resolve_run(&run)?;
            let index = st2.index(s, &run.id)?;
            let rows = s.browse_indexed(&index, &filter, page * PAGE_SIZE, PAGE_SIZE)?;
            Ok((run, index.facets(), rows))
        })
        .await?;
    Ok(html(pages::attempts(
        &st.ctx(&headers),
        &data.0,
        &data.1,
        &q,
        page,
        &data.2,
    )))
}

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub(crate) struct DetailQuery {
    /// Position in the filtered list (`i`), for previous/next.
    pub i: Option<u64>,
    /// `1` when the attempt was served by the queue.
    pub queue: String,
    /// The attempt served before this one (queue mode).
    pub from: String,
    #[serde(flatten)]
    pub filter: FilterQuery,
}

async fn attempt_page(
    State(st): St,
    Path((run, key)): Path<(String, String)>,
    Query(q): Query<DetailQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let qq = q.clone();
    let st2 = st.clone();
    let (run, detail, prev, next) = st
        .with_store(move |s| {
            let run = s.resolve_run(&run)?;
            let detail = s
                .attempt_detail(&run.id, &key)?
                .ok_or_else(|| UiError::NotFound(format!("run {} has no attempt {key}", run.id)))?;
            let (mut prev, mut next) = (None, None);
            if let Some(i) = qq.i {
                let f = qq.filter.filter();
                let index = st2.index(s, &run.id)?;
                if i > 0 {
                    prev = s
                        .browse_indexed(&index, &f, i - 1, 1)?
                        .rows
                        .pop()
                        .map(|r| (r.key, i - 1));
                }
                next = s
                    .browse_indexed(&index, &f, i + 1, 1)?
                    .rows
                    .pop()
                    .map(|r| (r.key, i + 1));
            }
            Ok((run, detail, prev, next))
        })
        .await?;
    Ok(html(pages::attempt(
        &st.ctx(&headers),
        &run,
        &detail,
        &q,
        prev,
        next,
    )))
}

async fn queue_next(
    State(st): St,
    Path(run): Path<String>,
    Query(q): Query<DetailQuery>,
    Query(j): Query<JudgeQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let Some(who) = annotator(&headers) else {
        let back = format!("/runs/{}/queue", pages::enc(&run));
        return Ok(Redirect::to(&format!("/annotator?next={}", pages::enc(&back))).into_response());
    };
    let st2 = st.clone();
    let found = st
        .with_store(move |s| {
            let run = s.resolve_run(&run)?;
            let judge = j
                .judge
                .filter(|j| !j.is_empty())
                .or_else(|| run.plan.judges.first().cloned())
                .unwrap_or_default();
            let cache_key = (run.id.clone(), judge.clone());
            let cached = st2
                .queues
                .lock()
                .ok()
                .and_then(|m| m.get(&cache_key).cloned());
            let order = match cached {
                Some(o) => o,
                None => {
                    let o = Arc::new(s.queue_order(
                        &run.id,
                        run.seed,
                        Some(&judge).filter(|j| !j.is_empty()).map(String::as_str),
                    )?);
                    if let Ok(mut m) = st2.queues.lock() {
                        m.insert(cache_key, o.clone());
                    }
                    o
                }
            };
            let done = s.labelled_keys(&run.id, &who)?;
            let next = order
                .next(st2.cfg.sample_size, &done, 1)
                .first()
                .map(|k| k.to_string());
            Ok((run.id, next))
        })
        .await?;
    match found {
        (run, Some(key)) => {
            let mut url = format!(
                "/runs/{}/attempts/{}?queue=1",
                pages::enc(&run),
                pages::enc(&key)
            );
            if !q.from.is_empty() {
                url.push_str(&format!("&from={}", pages::enc(&q.from)));
            }
            Ok(Redirect::to(&url).into_response())
        }
        (run, None) => Ok(html(pages::queue_done(&st.ctx(&headers), &run))),
    }
}

#[derive(Deserialize)]
struct LabelForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    csrf: String,
    /// Where to go after a form post without script.
    #[serde(default)]
    next: String,
}

async fn post_label(
    State(st): St,
    Path((run, key)): Path<(String, String)>,
    headers: HeaderMap,
    Form(f): Form<LabelForm>,
) -> UiResult<Response> {
    security::check_csrf(&st, &headers, &f.csrf)?;
    let Some(who) = annotator(&headers) else {
        return Err(UiError::BadRequest(
            "choose an annotator name first (/annotator)".into(),
        ));
    };
    if f.note.chars().count() > 4000 {
        return Err(UiError::BadRequest(
            "a note has at most 4000 characters".into(),
        ));
    }
    let label = match f.label.as_str() {
        "" => None,
        l => Some(mmsafe_store::HumanLabel::parse(l).ok_or_else(|| {
            UiError::BadRequest(format!(
                "unknown label (expected {})",
                mmsafe_store::HumanLabel::NAMES
            ))
        })?),
    };
    let who2 = who.clone();
    st.label_gen.fetch_add(1, Ordering::SeqCst);
    let labels = st
        .with_store(move |s| {
            let run = s.resolve_run(&run)?;
            match label {
                Some(l) => s.put_label(
                    &run.id,
                    &NewLabel {
                        attempt_key: key.clone(),
                        annotator: who2,
                        label: l,
                        note: f.note,
                        source: "ui".into(),
                    },
                )?,
                None => {
                    s.delete_label(&run.id, &key, &who2)?;
                }
            }
            Ok(s.labels_of(&key)?)
        })
        .await?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = serde_json::json!({ "ok": true, "annotator": who, "labels": labels });
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response());
    }
    Ok(Redirect::to(&safe_next(&f.next)).into_response())
}

#[derive(Deserialize, Default)]
struct CompareQuery {
    #[serde(default)]
    a: String,
    #[serde(default)]
    b: String,
    #[serde(default)]
    judge: String,
}

async fn compare_page(
    State(st): St,
    Query(q): Query<CompareQuery>,
    headers: HeaderMap,
) -> UiResult<Response> {
    let data = st
        .with_store(move |s| pages::compare_data(s, &q.a, &q.b, &q.judge))
        .await?;
    Ok(html(pages::compare(&st.ctx(&headers), &data)))
}

async fn image(State(st): St, Path(sha): Path<String>) -> UiResult<Response> {
    let sha = sha.to_ascii_lowercase();
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(UiError::NotFound("no such image".into()));
    }
    let bytes = st
        .with_store(move |s| Ok(s.image_bytes(&sha)?))
        .await?
        .ok_or_else(|| UiError::NotFound("no such image".into()))?;
    // The type comes from the bytes, never from what a dataset declared: an
    // SVG (which can carry script) or anything else not a raster image is
    // served as a download.
    let sniffed = mmsafe_core::case::sniff_media_type(&bytes);
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    match sniffed {
        Some(t) => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            );
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(r)
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/app.js"),
    )
        .into_response()
}

async fn app_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/app.css"),
    )
        .into_response()
}
