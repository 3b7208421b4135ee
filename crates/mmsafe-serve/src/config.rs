//! Proxy configuration.

use mmsafe_core::{DynTarget, Layer};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Builds the upstream target for a model name (called once per model; the
/// proxy caches the guarded stack). The CLI builds an OpenAI-compatible target
/// from mmsafe-target, so retries and timeouts are the scan's.
pub type UpstreamFn = Arc<dyn Fn(&str) -> Result<DynTarget, String> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (bytes); larger gets 413.
    pub max_body_bytes: usize,
    /// Largest decoded image (bytes); larger gets 413.
    pub max_image_bytes: usize,
    /// Most images in one request.
    pub max_images: usize,
    /// Largest declared width × height of an image (read from its header, so
    /// a small file declaring a huge canvas is refused before any decoding).
    pub max_image_pixels: u64,
    /// Largest declared width × height of all images of one request together,
    /// checked on the headers before any image is decoded.
    pub max_request_pixels: u64,
    /// Requests doing guard work (image decoding, guard layers) at once; the
    /// upstream call itself does not hold a slot.
    pub guard_concurrency: usize,
    /// Requests that may wait for a guard slot; beyond that the answer is
    /// 429 with `Retry-After`.
    pub guard_queue: usize,
    /// Model names whose guarded stacks are kept (least recently used evicted).
    pub max_models: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 20 * 1024 * 1024,
            max_image_bytes: 10 * 1024 * 1024,
            max_images: 8,
            max_image_pixels: 40_000_000,
            max_request_pixels: 50_000_000,
            guard_concurrency: default_guard_concurrency(),
            guard_queue: 256,
            max_models: 64,
        }
    }
}

/// One guard slot per core: guard work is CPU-bound (decoding, OCR, embeddings).
pub fn default_guard_concurrency() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get())
}

/// Check an upstream base URL at startup: an absolute `http(s)` URL with a
/// host, so a typo fails the command instead of every request.
pub fn check_upstream_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("upstream `{url}` is not a valid URL ({e}); expected e.g. http://127.0.0.1:8000/v1")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "upstream `{url}`: scheme `{}` is not supported; use http:// or https://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("upstream `{url}` has no host"));
    }
    Ok(())
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The compiled policy; `None` proxies without guarding.
    pub guard: Option<Arc<dyn Layer>>,
    /// Name recorded in the audit log and metrics.
    pub policy_name: String,
    pub upstream: UpstreamFn,
    /// Base URL of the upstream (`…/v1`), for `GET /v1/models`.
    pub upstream_url: String,
    pub upstream_key: Option<Secret>,
    /// Client API keys; empty means no authentication (loopback use only).
    pub api_keys: Vec<Secret>,
    pub limits: Limits,
    /// Hosts whose `http(s)` image URLs may be fetched; all others are refused.
    pub image_hosts: Vec<String>,
    /// SQLite file for the decision audit log; `None` disables it.
    pub audit_path: Option<PathBuf>,
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("policy_name", &self.policy_name)
            .field("upstream_url", &self.upstream_url)
            .field("upstream_key", &self.upstream_key)
            .field("api_keys", &self.api_keys.len())
            .field("limits", &self.limits)
            .field("image_hosts", &self.image_hosts)
            .field("audit_path", &self.audit_path)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::check_upstream_url;

    #[test]
    fn upstream_urls_are_checked() {
        assert!(check_upstream_url("http://127.0.0.1:8000/v1").is_ok());
        assert!(check_upstream_url("https://api.example.com/v1").is_ok());
        let e = check_upstream_url("not-a-url").unwrap_err();
        assert!(
            e.contains("not-a-url") && e.contains("not a valid URL"),
            "{e}"
        );
        assert!(check_upstream_url("ftp://h/v1")
            .unwrap_err()
            .contains("ftp"));
        assert!(check_upstream_url("127.0.0.1:8000/v1").is_err());
    }
}
