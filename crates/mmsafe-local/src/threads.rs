//! Compute threads for candle and rten.
//!
//! A busy 2-core machine makes multi-threaded inference 5-40x slower (threads
//! spin against each other), so every model runs on its own pool of
//! `threads` workers, 1 by default. candle's matmul also reads
//! `RAYON_NUM_THREADS` on every call, so a process that asks for more threads
//! must set it too (`configure_process`).

use std::sync::Arc;

/// A rayon pool that model calls run inside.
#[derive(Clone)]
pub struct Compute {
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
}

impl Compute {
    pub fn new(threads: usize) -> Compute {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("mmsafe-compute-{i}"))
            .build()
            .ok()
            .map(Arc::new);
        Compute { pool, threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Run `f` with this pool as rayon's current pool.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Compute({} threads)", self.threads)
    }
}

/// Set `RAYON_NUM_THREADS` (read by candle's matmul) unless the user set it.
/// Call once at start-up, before other threads exist.
pub fn configure_process(threads: usize) {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string());
    }
}

/// The device models load onto: the first CUDA GPU when built with the
/// `cuda` feature and one is present, else the CPU.
pub fn device() -> candle_core::Device {
    candle_core::Device::cuda_if_available(0).unwrap_or(candle_core::Device::Cpu)
}
