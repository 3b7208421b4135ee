//! At most N calls in flight to the inner target.

use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, Layer, Request, Response, Target, TargetError, TargetErrorKind, TargetInfo,
};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The semaphore is created per `layer()` call: each target gets its own limit.
pub struct ConcurrencyLayer(pub usize);

impl Layer for ConcurrencyLayer {
    fn name(&self) -> &str {
        "concurrency"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(ConcurrencyLimit {
            inner,
            permits: Arc::new(Semaphore::new(self.0.max(1))),
        })
    }
}

struct ConcurrencyLimit {
    inner: DynTarget,
    permits: Arc<Semaphore>,
}

#[async_trait]
impl Target for ConcurrencyLimit {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let _permit = self.permits.acquire().await.map_err(|_| {
            TargetError::new(
                TargetErrorKind::Cancelled,
                format!("{}: concurrency limiter closed", self.inner.info().spec),
            )
        })?;
        self.inner.call(req).await
    }
}
