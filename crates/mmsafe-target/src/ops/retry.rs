//! Retry transient failures with exponential backoff and full jitter.
//!
//! Also the place that fills `Response.retries` and the caller-side
//! `latency_ms` (queueing and backoff included), since it sees the whole call.

use async_trait::async_trait;
use mmsafe_core::{DynTarget, Layer, Request, Response, Target, TargetError, TargetInfo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// Upper bound of the first backoff; doubles per retry.
    pub base: Duration,
    /// No single wait is longer, `Retry-After` included.
    pub cap: Duration,
}

impl RetryPolicy {
    /// Wait before retry number `attempt + 1`: the server's `Retry-After` when it
    /// gave one (capped), else uniform in `[0, min(cap, base·2^attempt)]`
    /// ("full jitter", which spreads synchronized clients apart best).
    pub fn delay(&self, attempt: u32, retry_after_s: Option<f64>) -> Duration {
        if let Some(s) = retry_after_s {
            return Duration::from_secs_f64(s.max(0.0)).min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        ceiling.mul_f64(jitter_unit())
    }
}

pub struct RetryLayer(pub RetryPolicy);

impl Layer for RetryLayer {
    fn name(&self) -> &str {
        "retry"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(Retry {
            inner,
            policy: self.0,
        })
    }
}

struct Retry {
    inner: DynTarget,
    policy: RetryPolicy,
}

#[async_trait]
impl Target for Retry {
    fn info(&self) -> &TargetInfo {
        self.inner.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let start = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            if attempt >= self.policy.max_retries {
                // The final attempt takes the request itself; earlier ones a clone
                // (image bytes are shared, so the clone is shallow).
                let out = self.inner.call(req).await;
                return finish(out, attempt, start);
            }
            match self.inner.call(req.clone()).await {
                Err(e) if e.kind.is_transient() => {
                    tokio::time::sleep(self.policy.delay(attempt, e.retry_after_s)).await;
                    attempt += 1;
                }
                other => return finish(other, attempt, start),
            }
        }
    }
}

fn finish(
    out: Result<Response, TargetError>,
    retries: u32,
    start: Instant,
) -> Result<Response, TargetError> {
    match out {
        Ok(mut r) => {
            r.retries += retries;
            r.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
            Ok(r)
        }
        Err(mut e) => {
            e.retries += retries;
            if retries > 0 {
                let noun = if retries == 1 { "retry" } else { "retries" };
                e.message = format!("{} (gave up after {retries} {noun})", e.message);
            }
            Err(e)
        }
    }
}

/// A number in `[0, 1)`. Jitter needs spread, not quality: splitmix64 over a
/// counter seeded from the clock is plenty and needs no dependency.
fn jitter_unit() -> f64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED)
    });
    let mut z = seed.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        for attempt in 0..40 {
            let d = p.delay(attempt, None);
            let ceiling = Duration::from_millis(100 * (1u64 << attempt.min(20))).min(p.cap);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        assert_eq!(p.delay(0, Some(1.5)), Duration::from_millis(1500));
        assert_eq!(p.delay(0, Some(600.0)), Duration::from_secs(2));
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.delay(3, None)).collect();
        assert!(spread.len() > 10, "jitter should spread delays");
    }
}
