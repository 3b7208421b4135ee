//! Response cache: stores keyed by a hash of the normalized request.

mod disk;
mod key;
mod memory;

pub use disk::{default_cache_path, DiskCache};
pub use key::cache_key;
pub use memory::MemoryCache;

use async_trait::async_trait;
use mmsafe_core::Response;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("response cache {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("response cache {path}: cannot create its directory: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("response cache {path}: stored entry is not a response: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("response cache {path}: worker task failed: {message}")]
    Task { path: PathBuf, message: String },
}

/// Where cached responses are kept. Keys are lower-case hex sha256 strings.
#[async_trait]
pub trait ResponseCache: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Response>, CacheError>;
    async fn put(&self, key: &str, response: &Response) -> Result<(), CacheError>;
}
