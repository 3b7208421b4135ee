//! HTTP targets (OpenAI-compatible) and the operational layers every target shares:
//! retry, limits, timeout, cache.
//!
//! Build a raw target with [`OpenAiCompatible::from_spec`] (or any other
//! `Target`), then wrap it once with [`with_ops`]. Layer order and the reasons
//! for it are documented in [`ops`].

mod anthropic;
mod cache;
mod endpoint_url;
mod gemini;
pub mod inproc;
mod native;
mod openai;
pub mod ops;
mod redact;
mod retry_after;
mod spec;
mod transport;
mod wire;

pub use anthropic::{
    Anthropic, ANTHROPIC_BASE_URL, ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_KEY_ENV,
    ANTHROPIC_VERSION,
};
pub use cache::{cache_key, default_cache_path, CacheError, DiskCache, MemoryCache, ResponseCache};
pub use endpoint_url::endpoint_url;
pub use gemini::{Gemini, GEMINI_BASE_URL, GEMINI_KEY_ENVS};
pub use inproc::build_inproc_target;
pub use openai::{http_client, OpenAiCompatible};
pub use ops::{ops_layers, try_with_ops, with_ops};
pub use redact::{is_secret_param, redact_spec, redact_url, REDACTED};
pub use retry_after::parse_retry_after;
pub use spec::{
    parse_http_spec, read_key, HttpSpec, HTTP_SCHEMES, LMSTUDIO_BASE_URL, OLLAMA_BASE_URL,
    OPENAI_BASE_URL, OPENAI_KEY_ENV, VLLM_BASE_URL,
};

use mmsafe_core::{DynTarget, TargetError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where cached responses live.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheMode {
    Off,
    Memory,
    /// SQLite file (default: `$XDG_CACHE_HOME/mmsafe/response-cache.sqlite`).
    Disk(PathBuf),
}

/// Operational settings applied around any target.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// Max requests in flight to this target (0 = unlimited).
    pub concurrency: usize,
    /// Max requests per second (`None` = unlimited).
    pub rate_per_s: Option<f64>,
    /// Per attempt (queueing for a slot or rate token not included). Zero disables it.
    pub timeout: Duration,
    pub max_retries: u32,
    /// Env var holding the API key (overrides the scheme's default, e.g. `OPENAI_API_KEY`).
    pub api_key_env: Option<String>,
    pub cache: CacheMode,
    /// Local compute threads for `local:` targets.
    pub threads: usize,
    /// Upper bound of the first retry's backoff; doubles per retry (full jitter).
    pub backoff_base: Duration,
    /// Longest single wait between retries, `Retry-After` included.
    pub backoff_cap: Duration,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions {
            concurrency: 16,
            rate_per_s: None,
            timeout: Duration::from_secs(120),
            max_retries: 4,
            api_key_env: None,
            cache: CacheMode::Memory,
            threads: 1,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
        }
    }
}

/// The raw (unlayered) HTTP target for a spec of one of [`HTTP_SCHEMES`].
pub fn build_http_target(spec: &str, opts: &TargetOptions) -> Result<DynTarget, TargetError> {
    Ok(match spec.split_once(':').map(|(s, _)| s) {
        Some("anthropic") => Arc::new(Anthropic::from_spec(spec, opts)?),
        Some("gemini") => Arc::new(Gemini::from_spec(spec, opts)?),
        _ => Arc::new(OpenAiCompatible::from_spec(spec, opts)?),
    })
}
