//! `OpenAiCompatible`: one chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio,
//! llama.cpp server, …). One call = one HTTP request; retries, limits, timeout and
//! cache are layers around it (see `crate::ops`).

use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use mmsafe_core::{
    FinishReason, Request, Response, Target, TargetError, TargetErrorKind, TargetInfo, Usage,
};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use crate::endpoint_url::endpoint_url;
use crate::redact::{redact_spec, redact_url};
use crate::retry_after::parse_retry_after;
use crate::spec::{parse_http_spec, read_key};
use crate::wire::{error_detail, ChatRequest, ChatResponse};
use crate::TargetOptions;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct OpenAiCompatible {
    info: TargetInfo,
    /// `<base>/chat/completions`, credentials included: only ever sent.
    send_url: String,
    /// `send_url` redacted, for errors and `Debug`.
    display_url: String,
    auth: Option<HeaderValue>,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiCompatible {
    // The key must never show up in logs, so `auth` is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("info", &self.info)
            .field("url", &self.display_url)
            .field("has_key", &self.auth.is_some())
            .finish()
    }
}

/// A client for one target: pooled keep-alive connections shared by all its calls.
/// No overall timeout here; the timeout layer owns that, for every kind of target.
pub fn http_client() -> Result<reqwest::Client, TargetError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("mmsafe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            TargetError::new(
                TargetErrorKind::Config,
                format!(
                    "cannot build the HTTP client: {}",
                    crate::transport::error_chain(&e)
                ),
            )
        })
}

impl OpenAiCompatible {
    /// Build from a spec of one of [`crate::HTTP_SCHEMES`], reading the API key from
    /// the environment.
    pub fn from_spec(spec: &str, opts: &TargetOptions) -> Result<OpenAiCompatible, TargetError> {
        let s = parse_http_spec(spec, opts)?;
        let key = match &s.key_env {
            Some(env) => Some(read_key(env, &s.display_spec)?),
            None => None,
        };
        OpenAiCompatible::new(&s.base_url, &s.model, key.as_deref(), &s.display_spec)
    }

    /// `base_url` like `http://127.0.0.1:8000/v1`; `spec` is what `info().spec`
    /// reports and must not contain secrets.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<&str>,
        spec: &str,
    ) -> Result<OpenAiCompatible, TargetError> {
        // Callers are told to pass a clean spec; redacting here makes sure of it.
        let spec = &redact_spec(spec);
        let auth = match api_key {
            Some(k) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {k}")).map_err(|_| {
                    TargetError::new(
                        TargetErrorKind::Config,
                        format!("the API key for `{spec}` contains characters not allowed in an HTTP header"),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let url = endpoint_url(base_url, "chat/completions")
            .map_err(|e| TargetError::new(e.kind, format!("target `{spec}`: {}", e.message)))?;
        Ok(OpenAiCompatible {
            info: TargetInfo {
                spec: spec.to_string(),
                model: model.to_string(),
                accepts_images: true,
            },
            display_url: redact_url(&url),
            send_url: url,
            auth,
            client: http_client()?,
        })
    }

    /// Share a client (and its connection pool) with other targets.
    pub fn with_client(mut self, client: reqwest::Client) -> OpenAiCompatible {
        self.client = client;
        self
    }

    /// The endpoint as errors show it (credentials redacted).
    pub fn url(&self) -> &str {
        &self.display_url
    }

    fn err(&self, kind: TargetErrorKind, what: impl std::fmt::Display) -> TargetError {
        TargetError::new(kind, format!("POST {}: {what}", self.display_url))
    }

    fn transport_err(&self, e: reqwest::Error) -> TargetError {
        let (kind, what) = crate::transport::describe(e);
        self.err(kind, what)
    }

    fn status_err(&self, status: StatusCode, retry_after: Option<f64>, body: &[u8]) -> TargetError {
        let kind = match status.as_u16() {
            429 => TargetErrorKind::RateLimited,
            401 | 403 => TargetErrorKind::Auth,
            408 => TargetErrorKind::Timeout,
            // Unknown model or wrong base URL path.
            404 => TargetErrorKind::Config,
            500..=599 => TargetErrorKind::Server,
            _ => TargetErrorKind::BadRequest,
        };
        let mut e = self.err(kind, format!("HTTP {status}: {}", error_detail(body)));
        e.retry_after_s = retry_after;
        e
    }

    fn parse(&self, body: &[u8]) -> Result<Response, TargetError> {
        let wire: ChatResponse = serde_json::from_slice(body).map_err(|e| {
            self.err(
                TargetErrorKind::Malformed,
                format!("reply is not a chat completion: {e}"),
            )
        })?;
        let Some(choice) = wire.choices.into_iter().next() else {
            let why = match &wire.error {
                Some(err) => format!(
                    "reply has no choices; error: {}",
                    error_detail(err.to_string().as_bytes())
                ),
                None => "reply has no choices".to_string(),
            };
            return Err(self.err(TargetErrorKind::Malformed, why));
        };
        let (text, refusal) = match choice.message {
            Some(m) => (m.content.map(|c| c.into_text()), m.refusal),
            None => (None, None),
        };
        let text = text
            .filter(|t| !t.is_empty())
            .or(refusal)
            .unwrap_or_default();
        let usage = wire.usage.unwrap_or_default();
        Ok(Response {
            text,
            // A missing finish_reason comes from older local servers that stop normally.
            finish_reason: choice
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, FinishReason::parse),
            usage: Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            },
            latency_ms: 0.0,
            model: wire.model,
            cached: false,
            retries: 0,
            events: Vec::new(),
        })
    }
}

#[async_trait]
impl Target for OpenAiCompatible {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let start = Instant::now();
        let body = serde_json::to_vec(&ChatRequest::new(&self.info.model, &req)).map_err(|e| {
            self.err(
                TargetErrorKind::BadRequest,
                format!("cannot encode request: {e}"),
            )
        })?;
        drop(req);
        // reqwest turns `user:pass@` in the URL into basic auth; a key from the
        // environment replaces that header rather than adding a second one.
        let mut http = self
            .client
            .post(&self.send_url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .build()
            .map_err(|e| self.transport_err(e))?;
        if let Some(auth) = &self.auth {
            http.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let resp = self
            .client
            .execute(http)
            .await
            .map_err(|e| self.transport_err(e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = resp.bytes().await.map_err(|e| self.transport_err(e))?;
        if !status.is_success() {
            return Err(self.status_err(status, retry_after, &bytes));
        }
        let mut out = self.parse(&bytes)?;
        out.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        Ok(out)
    }
}
