//! Per-attempt deadline for the inner call.

use async_trait::async_trait;
use mmsafe_core::{
    DynTarget, Layer, Request, Response, Target, TargetError, TargetErrorKind, TargetInfo,
};
use std::sync::Arc;
use std::time::Duration;

pub struct TimeoutLayer(pub Duration);

impl Layer for TimeoutLayer {
    fn name(&self) -> &str {
        "timeout"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(Timeout {
            inner,
            limit: self.0,
        })
    }
}

struct Timeout {
    inner: DynTarget,
    limit: Duration,
}

#[async_trait]
impl Target for Timeout {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        match tokio::time::timeout(self.limit, self.inner.call(req)).await {
            Ok(out) => out,
            Err(_) => Err(TargetError::new(
                TargetErrorKind::Timeout,
                format!(
                    "{}: no reply within {:.1} s",
                    self.inner.info().spec,
                    self.limit.as_secs_f64()
                ),
            )),
        }
    }
}
