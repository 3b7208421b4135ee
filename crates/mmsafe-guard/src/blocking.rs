//! Running CPU-bound model work (OCR, embeddings, image codecs) from async code.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Run `f` where it does not stall other requests: on a multi-threaded tokio
/// runtime the worker hands its other tasks away first (`block_in_place`);
/// elsewhere (a current-thread runtime, no runtime) it simply runs.
///
/// The closure borrows, which `spawn_blocking` would not allow; models are
/// shared by reference, so this avoids cloning them per call.
pub async fn run<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
