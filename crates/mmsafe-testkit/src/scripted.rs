//! A loopback HTTP server for provider APIs that are not OpenAI-shaped (Anthropic,
//! Gemini, …): it answers every method and path from a closure and records each
//! request (path, headers, JSON body), so tests can assert what a target sent.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mmsafe_testkit::{ScriptedReply, ScriptedServer};
//! let server = ScriptedServer::start(|i, _req| {
//!     if i == 0 {
//!         ScriptedReply::json(429, serde_json::json!({"error": "slow down"})).header("retry-after", "1")
//!     } else {
//!         ScriptedReply::json(200, serde_json::json!({"ok": true}))
//!     }
//! })
//! .await?;
//! println!("{}", server.url()); // http://127.0.0.1:PORT
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/messages`.
    pub path: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Null` when it is not JSON.
    pub json: serde_json::Value,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server sends back for one request.
#[derive(Debug, Clone)]
pub struct ScriptedReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ScriptedReply {
    pub fn json(status: u16, body: serde_json::Value) -> ScriptedReply {
        ScriptedReply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A body sent as is (e.g. deliberately broken JSON).
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> ScriptedReply {
        ScriptedReply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> ScriptedReply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Decides the reply from the 0-based request index and the request.
pub type ScriptFn = dyn Fn(usize, &RecordedRequest) -> ScriptedReply + Send + Sync;

struct Shared {
    script: Box<ScriptFn>,
    count: AtomicUsize,
    recorded: Mutex<Vec<RecordedRequest>>,
}

/// A running scripted server. Dropping it stops the server.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Bind `127.0.0.1:0` and answer every request with `script`. Must be called
    /// inside a Tokio runtime.
    pub async fn start(
        script: impl Fn(usize, &RecordedRequest) -> ScriptedReply + Send + Sync + 'static,
    ) -> std::io::Result<ScriptedServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Box::new(script),
            count: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            let _ = serve.await;
        });
        Ok(ScriptedServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no path.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn request_count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        match self.shared.recorded.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = RecordedRequest {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    // Record before answering so the index and the log agree under concurrency.
    let index = {
        let mut log = match shared.recorded.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        log.push(req.clone());
        shared.count.fetch_add(1, Ordering::SeqCst)
    };
    let reply = (shared.script)(index, &req);
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_requests_and_replies_from_the_script() {
        let server = ScriptedServer::start(|i, req| {
            ScriptedReply::json(200 + i as u16, serde_json::json!({"path": req.path}))
                .header("x-seen", "1")
        })
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{}/v1/messages?x=1", server.url()))
            .header("X-Api-Key", "k")
            .json(&serde_json::json!({"a": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["x-seen"], "1");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["path"], "/v1/messages?x=1");
        let r = client.get(server.url()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let log = server.requests();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].method, "POST");
        assert_eq!(log[0].header("x-api-key"), Some("k"));
        assert_eq!(log[0].json["a"], 1);
        assert_eq!(log[1].json, serde_json::Value::Null);
        server.shutdown().await;
    }
}
