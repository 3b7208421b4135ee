//! SQLite-backed cache shared across runs and processes (WAL mode).

use super::{CacheError, ResponseCache};
use async_trait::async_trait;
use mmsafe_core::Response;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA_VERSION: i64 = 1;

/// `$XDG_CACHE_HOME/mmsafe/response-cache.sqlite`, else `$HOME/.cache/mmsafe/…`,
/// else `./.mmsafe-cache/…` when neither variable is set.
pub fn default_cache_path() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(|| PathBuf::from(".mmsafe-cache"));
    base.join("mmsafe").join("response-cache.sqlite")
}

pub struct DiskCache {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl DiskCache {
    /// Open or create the cache file (and its directory).
    pub fn open(path: &Path) -> Result<DiskCache, CacheError> {
        let sqlite = |source| CacheError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Dir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(sqlite)?;
        // Several mmsafe processes may share the file: wait on locks instead of failing.
        conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        // A lost cache entry costs one repeated request; full fsync per write is not worth it.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        if version < SCHEMA_VERSION {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS responses (
                    key TEXT PRIMARY KEY,
                    response TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 PRAGMA user_version = 1;",
            )
            .map_err(sqlite)?;
        }
        Ok(DiskCache {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run a statement on the blocking pool so SQLite IO never stalls the runtime.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CacheError> + Send + 'static,
    ) -> Result<T, CacheError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard)
        })
        .await
        .map_err(|e| CacheError::Task {
            path,
            message: e.to_string(),
        })?
    }
}

#[async_trait]
impl ResponseCache for DiskCache {
    async fn get(&self, key: &str) -> Result<Option<Response>, CacheError> {
        let key = key.to_string();
        let path = self.path.clone();
        self.with_conn(move |c| {
            let raw: Option<String> = c
                .prepare_cached("SELECT response FROM responses WHERE key = ?1")
                .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
                .map_err(|source| CacheError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            raw.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|source| CacheError::Decode { path, source })
        })
        .await
    }

    async fn put(&self, key: &str, response: &Response) -> Result<(), CacheError> {
        let key = key.to_string();
        let path = self.path.clone();
        let json = serde_json::to_string(response).map_err(|source| CacheError::Decode {
            path: path.clone(),
            source,
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.with_conn(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO responses (key, response, created_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![key, json, now]))
            .map(|_| ())
            .map_err(|source| CacheError::Sqlite { path, source })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.sqlite");
        let c = DiskCache::open(&path).unwrap();
        assert!(c.get("k").await.unwrap().is_none());
        c.put("k", &Response::text("hello")).await.unwrap();
        drop(c);
        let c = DiskCache::open(&path).unwrap();
        assert_eq!(c.get("k").await.unwrap().unwrap().text, "hello");
    }

    #[test]
    fn default_path_ends_in_mmsafe_dir() {
        let p = default_cache_path();
        assert!(
            p.ends_with("mmsafe/response-cache.sqlite"),
            "{}",
            p.display()
        );
    }
}
