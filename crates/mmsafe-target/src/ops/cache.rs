//! Serve deterministic requests from the response cache.

use async_trait::async_trait;
use mmsafe_core::{DynTarget, Layer, Request, Response, Target, TargetError, TargetInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::cache::{cache_key, ResponseCache};

pub struct CacheLayer(pub Arc<dyn ResponseCache>);

impl Layer for CacheLayer {
    fn name(&self) -> &str {
        "cache"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(Cached {
            inner,
            store: self.0.clone(),
            warned: AtomicBool::new(false),
        })
    }
}

struct Cached {
    inner: DynTarget,
    store: Arc<dyn ResponseCache>,
    warned: AtomicBool,
}

impl Cached {
    /// A broken cache must not fail the scan: warn once, then behave as uncached.
    fn warn(&self, e: &dyn std::fmt::Display) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!("{e}; continuing without it for failed lookups");
        }
    }
}

#[async_trait]
impl Target for Cached {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        if !req.is_deterministic() {
            return self.inner.call(req).await;
        }
        let start = Instant::now();
        let key = cache_key(&self.inner.info().spec, &req);
        match self.store.get(&key).await {
            Ok(Some(mut hit)) => {
                hit.cached = true;
                hit.retries = 0;
                hit.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
                return Ok(hit);
            }
            Ok(None) => {}
            Err(e) => self.warn(&e),
        }
        let resp = self.inner.call(req).await?;
        if let Err(e) = self.store.put(&key, &resp).await {
            self.warn(&e);
        }
        Ok(resp)
    }
}
