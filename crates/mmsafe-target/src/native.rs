//! What the provider-native targets (Anthropic, Gemini) share: their spec form,
//! key lookup, and one JSON POST with the same error classes and URL-naming
//! messages as the OpenAI-compatible target.

use std::time::SystemTime;

use mmsafe_core::{Image, TargetError, TargetErrorKind};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use crate::endpoint_url::endpoint_url;
pub(crate) use crate::redact::{redact_spec, redact_url};
use crate::retry_after::parse_retry_after;
use crate::wire::error_detail;

fn config_err(msg: String) -> TargetError {
    TargetError::new(TargetErrorKind::Config, msg)
}

/// A parsed `<scheme>:<model>` or `<scheme>:<base-url>#<model>` spec.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NativeSpec {
    /// Without trailing slash.
    pub base_url: String,
    pub model: String,
    /// Safe to store and print: URL credentials and query redacted.
    pub display_spec: String,
}

impl std::fmt::Debug for NativeSpec {
    // `base_url` may hold credentials the user wrote into it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeSpec")
            .field("base_url", &redact_url(&self.base_url))
            .field("model", &self.model)
            .field("display_spec", &self.display_spec)
            .finish()
    }
}

/// `scheme:<model>` uses `default_base`; `scheme:<base-url>#<model>` overrides it,
/// the same `#` split as `openai-compatible:` so one rule covers every HTTP scheme.
pub(crate) fn parse_native_spec(
    spec: &str,
    scheme: &str,
    default_base: &str,
) -> Result<NativeSpec, TargetError> {
    let rest = spec
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(|| {
            config_err(format!(
                "target spec `{}` is not a `{scheme}:` spec",
                redact_spec(spec)
            ))
        })?;
    let (base, model) = match rest.split_once('#') {
        Some((url, model)) => (Some(url.trim()), model.trim()),
        None => (None, rest.trim()),
    };
    if model.is_empty() {
        return Err(config_err(format!(
            "target spec `{}` names no model; expected `{scheme}:<model>` or `{scheme}:<base-url>#<model>`",
            redact_spec(spec)
        )));
    }
    let Some(url) = base else {
        return Ok(NativeSpec {
            base_url: default_base.to_string(),
            model: model.to_string(),
            display_spec: redact_spec(&format!("{scheme}:{model}")),
        });
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        config_err(format!(
            "target spec `{}`: base URL `{}` is not a URL: {e}",
            redact_spec(spec),
            redact_url(url)
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(config_err(format!(
            "target spec `{}`: base URL must be http or https, got `{}`",
            redact_spec(spec),
            parsed.scheme()
        )));
    }
    let url = crate::spec::trim_base(url);
    Ok(NativeSpec {
        base_url: url.to_string(),
        model: model.to_string(),
        display_spec: format!("{scheme}:{}#{model}", redact_url(url)),
    })
}

/// The key from `--api-key-env` when given, else from the first of `defaults` that
/// is set. A set-but-empty variable counts as missing.
pub(crate) fn read_native_key(
    user_env: Option<&str>,
    defaults: &[&str],
    spec: &str,
) -> Result<String, TargetError> {
    let candidates: Vec<&str> = match user_env.filter(|e| !e.is_empty()) {
        Some(e) => vec![e],
        None => defaults.to_vec(),
    };
    for env in &candidates {
        if let Ok(v) = std::env::var(env) {
            if !v.trim().is_empty() {
                return Ok(v.trim().to_string());
            }
        }
    }
    Err(config_err(format!(
        "target `{spec}` needs an API key: set the environment variable {} (or name another one with --api-key-env)",
        candidates.join(" or ")
    )))
}

/// A header value that `Debug` and logs show as `Sensitive`.
pub(crate) fn secret_header(value: &str, spec: &str) -> Result<HeaderValue, TargetError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        config_err(format!(
            "the API key for `{spec}` contains characters not allowed in an HTTP header"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Base64 of the image bytes, taken from the data URL so this crate needs no
/// second base64 dependency.
pub(crate) fn image_base64(image: &Image) -> String {
    let url = image.data_url();
    match url.split_once(',') {
        Some((_, data)) => data.to_string(),
        None => String::new(),
    }
}

/// A non-2xx reply, before the provider classifies it.
pub(crate) struct HttpFailure {
    pub status: StatusCode,
    pub retry_after_s: Option<f64>,
    pub body: Vec<u8>,
}

/// One JSON endpoint with fixed headers (the key among them).
pub(crate) struct Endpoint {
    /// Credentials included: only ever sent.
    send_url: String,
    /// `send_url` redacted, for errors and `Debug`.
    pub display_url: String,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl Endpoint {
    /// `tail` appended to the path of `base_url` (its query kept); `spec` names the
    /// target in a config error.
    pub(crate) fn new(
        base_url: &str,
        tail: &str,
        spec: &str,
        headers: HeaderMap,
        client: reqwest::Client,
    ) -> Result<Endpoint, TargetError> {
        let url = endpoint_url(base_url, tail).map_err(|e| {
            TargetError::new(
                e.kind,
                format!("target `{}`: {}", redact_spec(spec), e.message),
            )
        })?;
        Ok(Endpoint {
            display_url: redact_url(&url),
            send_url: url,
            headers,
            client,
        })
    }

    pub(crate) fn set_client(&mut self, client: reqwest::Client) {
        self.client = client;
    }

    pub(crate) fn err(&self, kind: TargetErrorKind, what: impl std::fmt::Display) -> TargetError {
        TargetError::new(kind, format!("POST {}: {what}", self.display_url))
    }

    /// POST `body`; `Ok(Ok(bytes))` for 2xx, `Ok(Err(failure))` for other statuses.
    pub(crate) async fn post_json(
        &self,
        body: Vec<u8>,
    ) -> Result<Result<Vec<u8>, HttpFailure>, TargetError> {
        let resp = self
            .client
            .post(&self.send_url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_err(e))?;
        let status = resp.status();
        let retry_after_s = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = resp.bytes().await.map_err(|e| self.transport_err(e))?;
        if status.is_success() {
            Ok(Ok(bytes.to_vec()))
        } else {
            Ok(Err(HttpFailure {
                status,
                retry_after_s,
                body: bytes.to_vec(),
            }))
        }
    }

    fn transport_err(&self, e: reqwest::Error) -> TargetError {
        let (kind, what) = crate::transport::describe(e);
        self.err(kind, what)
    }

    /// The error for a failed status, classified like the OpenAI-compatible target.
    pub(crate) fn status_err(
        &self,
        f: &HttpFailure,
        kind: TargetErrorKind,
        detail: &str,
    ) -> TargetError {
        let mut e = self.err(kind, format!("HTTP {}: {detail}", f.status));
        e.retry_after_s = f.retry_after_s;
        e
    }
}

/// The error class a status implies, the same table as the OpenAI-compatible target.
pub(crate) fn status_kind(status: StatusCode) -> TargetErrorKind {
    match status.as_u16() {
        429 => TargetErrorKind::RateLimited,
        401 | 403 => TargetErrorKind::Auth,
        408 => TargetErrorKind::Timeout,
        // Unknown model or wrong base URL path.
        404 => TargetErrorKind::Config,
        // 529 is Anthropic's "overloaded": transient like any 5xx.
        500..=599 => TargetErrorKind::Server,
        _ => TargetErrorKind::BadRequest,
    }
}

/// `<label>: <message>` from `{"error":{"type"|"status": label, "message": …}}`,
/// the shape both Anthropic and Google use; anything else as `error_detail` shows it.
pub(crate) fn provider_error_detail(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let err = v.as_ref().and_then(|v| v.get("error"));
    let label = err
        .and_then(|e| e.get("type").or_else(|| e.get("status")))
        .and_then(|l| l.as_str());
    let detail = error_detail(body);
    match label {
        Some(l) if !detail.starts_with(l) => format!("{l}: {detail}"),
        _ => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_alone_or_base_url_and_model() {
        let s = parse_native_spec("anthropic:claude-x", "anthropic", "https://a.example").unwrap();
        assert_eq!(s.base_url, "https://a.example");
        assert_eq!(s.model, "claude-x");
        assert_eq!(s.display_spec, "anthropic:claude-x");
        let s = parse_native_spec(
            "gemini:http://127.0.0.1:9/#gemini-2.0-flash",
            "gemini",
            "https://g.example",
        )
        .unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:9");
        assert_eq!(s.model, "gemini-2.0-flash");
        assert_eq!(s.display_spec, "gemini:http://127.0.0.1:9#gemini-2.0-flash");
    }

    #[test]
    fn bad_native_specs_say_what_is_wrong() {
        let e = parse_native_spec("anthropic:", "anthropic", "https://a").unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Config);
        assert!(e.message.contains("no model"), "{}", e.message);
        let e = parse_native_spec("anthropic:ftp://x#m", "anthropic", "https://a").unwrap_err();
        assert!(e.message.contains("http or https"), "{}", e.message);
        let e = parse_native_spec("anthropic:not a url#m", "anthropic", "https://a").unwrap_err();
        assert!(e.message.contains("is not a URL"), "{}", e.message);
    }

    #[test]
    fn url_secrets_stay_out_of_the_display_spec() {
        let s = parse_native_spec(
            "anthropic:https://u:secret@proxy.example/?key=secret#claude",
            "anthropic",
            "https://a",
        )
        .unwrap();
        assert!(!s.display_spec.contains("secret"), "{}", s.display_spec);
        let e = parse_native_spec(
            "anthropic:ftp://u:secret@h/?key=secret#m",
            "anthropic",
            "https://a",
        )
        .unwrap_err();
        assert!(!e.message.contains("secret"), "{}", e.message);
    }

    #[test]
    fn missing_key_names_every_variable_tried() {
        let e = read_native_key(
            None,
            &["MMSAFE_TEST_UNSET_A", "MMSAFE_TEST_UNSET_B"],
            "gemini:m",
        )
        .unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Config);
        assert!(
            e.message
                .contains("MMSAFE_TEST_UNSET_A or MMSAFE_TEST_UNSET_B"),
            "{}",
            e.message
        );
        let e = read_native_key(Some("MMSAFE_TEST_UNSET_C"), &["PATH"], "gemini:m").unwrap_err();
        assert!(e.message.contains("MMSAFE_TEST_UNSET_C"), "{}", e.message);
        assert!(!e.message.contains("PATH"), "{}", e.message);
    }

    #[test]
    fn provider_errors_show_type_and_message() {
        assert_eq!(
            provider_error_detail(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "overloaded_error: Overloaded"
        );
        assert_eq!(
            provider_error_detail(
                br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#
            ),
            "RESOURCE_EXHAUSTED: Quota exceeded"
        );
        assert_eq!(provider_error_detail(b"gateway down"), "gateway down");
    }

    #[test]
    fn images_travel_as_plain_base64() {
        let img = Image::png(b"\x89PNG\r\n\x1a\nxx".to_vec());
        assert_eq!(image_base64(&img), "iVBORw0KGgp4eA==");
    }
}
