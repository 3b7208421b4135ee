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
    pub fn context(mut self, at: &str) -> ApiError {
        self.message = format!("{at}: {}", self.message);
        self
    }

    /// Map a failed call through the guard stack to a status.
    pub fn from_target(e: &TargetError) -> ApiError {
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
            _ => e.message.clone(),
        };
        ApiError::new(status, kind, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"message": self.message, "type": self.kind, "code": self.code}
        });
        (self.status, axum::Json(body)).into_response()
    }
}
