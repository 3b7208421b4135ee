//! Operational layers, applied once around every target (HTTP and local alike).
//!
//! Order, outermost first: `cache → retry → concurrency → rate → timeout → target`.
//! - cache outermost: a hit costs no retry budget, no concurrency slot and no rate token.
//! - retry outside the limits: a request sleeping in backoff holds no slot, and each
//!   retry queues for a slot and a rate token again, so retries count against the
//!   provider's limits like any other request.
//! - concurrency outside rate: a caller takes its slot, then waits for its start time,
//!   so starts stay evenly spaced; the other order lets queued token-holders start in
//!   bursts when slots free up together.
//! - timeout innermost: it bounds one attempt on the wire, not time spent queueing
//!   for a slot or a token, so a busy scan does not time out requests it never sent.

mod cache;
mod concurrency;
mod rate;
mod retry;
mod timeout;

pub use cache::CacheLayer;
pub use concurrency::ConcurrencyLayer;
pub use rate::{RateLayer, RateLimiter};
pub use retry::{RetryLayer, RetryPolicy};
pub use timeout::TimeoutLayer;

use mmsafe_core::{DynTarget, Layer, TargetError, TargetErrorKind};
use std::sync::Arc;

use crate::cache::{DiskCache, MemoryCache, ResponseCache};
use crate::{CacheMode, TargetOptions};

/// The layers `with_ops` applies, outermost first.
pub fn ops_layers(opts: &TargetOptions) -> Result<Vec<Arc<dyn Layer>>, TargetError> {
    let mut layers: Vec<Arc<dyn Layer>> = Vec::new();
    if let Some(store) = open_cache(&opts.cache)? {
        layers.push(Arc::new(CacheLayer(store)));
    }
    layers.push(Arc::new(RetryLayer(RetryPolicy {
        max_retries: opts.max_retries,
        base: opts.backoff_base,
        cap: opts.backoff_cap,
    })));
    if opts.concurrency > 0 {
        layers.push(Arc::new(ConcurrencyLayer(opts.concurrency)));
    }
    if let Some(r) = opts.rate_per_s.filter(|r| r.is_finite() && *r > 0.0) {
        layers.push(Arc::new(RateLayer(r)));
    }
    if !opts.timeout.is_zero() {
        layers.push(Arc::new(TimeoutLayer(opts.timeout)));
    }
    Ok(layers)
}

fn open_cache(mode: &CacheMode) -> Result<Option<Arc<dyn ResponseCache>>, TargetError> {
    Ok(match mode {
        CacheMode::Off => None,
        CacheMode::Memory => Some(Arc::new(MemoryCache::default())),
        CacheMode::Disk(path) => {
            Some(Arc::new(DiskCache::open(path).map_err(|e| {
                TargetError::new(TargetErrorKind::Config, e.to_string())
            })?))
        }
    })
}

/// Wrap `inner` in the operational layers; fails only when the disk cache cannot be opened.
pub fn try_with_ops(inner: DynTarget, opts: &TargetOptions) -> Result<DynTarget, TargetError> {
    Ok(mmsafe_core::target::stack(&ops_layers(opts)?, inner))
}

/// Wrap `inner` in the operational layers. If the disk cache cannot be opened the
/// target runs uncached (with a warning) rather than not at all; use
/// [`try_with_ops`] to treat that as an error.
pub fn with_ops(inner: DynTarget, opts: &TargetOptions) -> DynTarget {
    match try_with_ops(inner.clone(), opts) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("{e}; running without a response cache");
            let uncached = TargetOptions {
                cache: CacheMode::Off,
                ..opts.clone()
            };
            let layers = ops_layers(&uncached).unwrap_or_default();
            mmsafe_core::target::stack(&layers, inner)
        }
    }
}
