//! Errors as OpenAI-style JSON bodies: `{"error": {"message", "type", "code"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mmsafe_core::{TargetError, TargetErrorKind};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    /// Answer with `Connection: close` (the request body may be unread).
    pub close: bool,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        m: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            message: m.into(),
            close: false,
            retry_after: None,
        }
    }
    /// The same error, answered with `Connection: close`.
    pub fn closing(mut self) -> ApiError {
        self.close = true;
        self
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            m,
        )
    }
    pub fn too_large(m: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "too_large",
            m,
        )
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "missing or invalid API key",
        )
    }
    pub fn bad_gateway(m: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_error",
            m,
        )
    }
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal",
            m,
        )
    }
    /// Every guard slot is taken and the queue is full.
    pub fn busy() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "guard_busy",
            "the guard is at capacity; retry shortly",
        );
        e.retry_after = Some(1);
        e
    }
    pub fn context(mut self, at: &str) -> ApiError {
        self.message = format!("{at}: {}", self.message);
        self
    }

    /// Map a failed call through the guard stack to a status. The message
    /// names neither the upstream's URL nor its host (`upstream_url`).
    pub fn from_target(e: &TargetError, upstream_url: &str) -> ApiError {
        use TargetErrorKind as K;
        let (status, kind, code) = match e.kind {
            K::Guard => (
                StatusCode::SERVICE_UNAVAILABLE,
                "guard_error",
                "guard_failed",
            ),
            K::Connect => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_unreachable",
            ),
            K::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                "upstream_timeout",
            ),
            K::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limited",
            ),
            K::BadRequest => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "upstream_rejected",
            ),
            K::Auth => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_auth"),
            K::Config => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "config"),
            _ => (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_error"),
        };
        let message = match e.kind {
            // The upstream's own auth message could describe the proxy's key.
            K::Auth => "the upstream rejected the proxy's credentials".to_string(),
            // Target errors name the endpoint; clients learn only "upstream".
            _ => scrub_host(&scrub_urls(&e.message), upstream_url),
        };
        let mut out = ApiError::new(status, kind, code, message);
        if e.kind == K::RateLimited {
            out.retry_after = e.retry_after_s.map(|s| s.ceil().clamp(1.0, 3600.0) as u32);
        }
        out
    }
}

/// `s` with the host (and `host:port`) of `url` replaced by `upstream`.
pub fn scrub_host(s: &str, url: &str) -> String {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default())))
    else {
        return s.to_string();
    };
    let mut out = s.to_string();
    if let (h, Some(port)) = &host {
        out = out.replace(&format!("{h}:{port}"), "upstream");
    }
    if !host.0.is_empty() {
        out = out.replace(&host.0, "upstream");
    }
    out
}

/// `s` with every URL (`scheme://…`) replaced by `upstream`.
pub fn scrub_urls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let b = rest.as_bytes();
        let mut start = i;
        while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b"+-.".contains(&b[start - 1]))
        {
            start -= 1;
        }
        if start == i {
            out.push_str(&rest[..i + 3]);
            rest = &rest[i + 3..];
            continue;
        }
        let mut end = i + 3;
        while end < b.len() && !b[end].is_ascii_whitespace() && !b"`\"'()<>[]".contains(&b[end]) {
            end += 1;
        }
        // Punctuation after a URL belongs to the sentence.
        while end > i + 3 && b":,.;".contains(&b[end - 1]) {
            end -= 1;
        }
        out.push_str(&rest[..start]);
        out.push_str("upstream");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"message": self.message, "type": self.kind, "code": self.code}
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::scrub_urls;

    #[test]
    fn urls_become_upstream() {
        assert_eq!(
            scrub_urls("POST http://10.0.0.7:8000/v1/chat/completions: HTTP 429: slow down"),
            "POST upstream: HTTP 429: slow down"
        );
        assert_eq!(
            scrub_urls("target `openai-compatible:https://u:p@h/v1#m`: error sending request for url (https://h/v1/x)"),
            "target `openai-compatible:upstream`: error sending request for url (upstream)"
        );
        assert_eq!(
            scrub_urls("no url here :// at all"),
            "no url here :// at all"
        );
        assert_eq!(
            super::scrub_host(
                "connect to 10.1.2.3:8000 failed (10.1.2.3)",
                "http://10.1.2.3:8000/v1"
            ),
            "connect to upstream failed (upstream)"
        );
    }
}
