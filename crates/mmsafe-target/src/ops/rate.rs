//! Requests-per-second limit: evenly spaced starts (GCRA with a burst of one).
//!
//! Each caller reserves the next free start time under a short lock and then
//! sleeps until it, so waiting callers hold no lock and starts never bunch up.

use async_trait::async_trait;
use mmsafe_core::{DynTarget, Layer, Request, Response, Target, TargetError, TargetInfo};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub struct RateLayer(pub f64);

impl Layer for RateLayer {
    fn name(&self) -> &str {
        "rate"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(RateLimit {
            inner,
            limiter: RateLimiter::new(self.0),
        })
    }
}

pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_s` must be positive; `with_ops` skips the layer otherwise.
    pub fn new(per_s: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_s.max(1e-6)),
            next: Mutex::new(None),
        }
    }

    /// Wait for this caller's start slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

struct RateLimit {
    inner: DynTarget,
    limiter: RateLimiter,
}

#[async_trait]
impl Target for RateLimit {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        self.limiter.acquire().await;
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_are_spaced_by_the_interval() {
        let l = RateLimiter::new(100.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        // First start is immediate, then 4 intervals of 10 ms.
        assert!(t0.elapsed() >= Duration::from_millis(40));
    }
}
