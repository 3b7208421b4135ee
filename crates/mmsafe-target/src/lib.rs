//! HTTP targets (OpenAI-compatible) and the operational layers every target shares:
//! retry, limits, timeout, cache.

use std::path::PathBuf;
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
    /// Max requests in flight to this target.
    pub concurrency: usize,
    /// Max requests per second (`None` = unlimited).
    pub rate_per_s: Option<f64>,
    pub timeout: Duration,
    pub max_retries: u32,
    /// Env var holding the API key (overrides the scheme's default, e.g. `OPENAI_API_KEY`).
    pub api_key_env: Option<String>,
    pub cache: CacheMode,
    /// Local compute threads for `local:` targets.
    pub threads: usize,
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
        }
    }
}
