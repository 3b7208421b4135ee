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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 20 * 1024 * 1024,
            max_image_bytes: 10 * 1024 * 1024,
            max_images: 8,
        }
    }
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
