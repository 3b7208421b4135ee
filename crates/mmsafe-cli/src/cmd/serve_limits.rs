//! `mmsafe serve` flags for the limits that protect the proxy from hostile
//! clients (guard slots, the per-request pixel budget, cached model stacks).

use mmsafe_serve::Limits;

#[derive(clap::Args, Debug)]
pub struct ServeLimitArgs {
    /// Largest total of declared width × height over all images of one
    /// request, in megapixels (checked on headers, before any decoding).
    #[arg(long, default_value_t = 50.0)]
    max_request_megapixels: f64,
    /// Requests doing guard work (image decoding, guard layers) at once
    /// [default: one per core].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    guard_concurrency: Option<u64>,
    /// Requests that may wait for a guard slot; beyond that, 429 with Retry-After.
    #[arg(long, default_value_t = 256)]
    guard_queue: usize,
    /// Model names whose guarded stacks are kept (least recently used evicted).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    max_models: u64,
}

impl ServeLimitArgs {
    /// `limits` with these flags applied.
    pub fn apply(&self, mut limits: Limits) -> anyhow::Result<Limits> {
        anyhow::ensure!(
            self.max_request_megapixels > 0.0,
            "--max-request-megapixels {} must be above 0",
            self.max_request_megapixels
        );
        limits.max_request_pixels = (self.max_request_megapixels * 1e6) as u64;
        if let Some(n) = self.guard_concurrency {
            limits.guard_concurrency = n as usize;
        }
        limits.guard_queue = self.guard_queue;
        limits.max_models = self.max_models as usize;
        Ok(limits)
    }
}
