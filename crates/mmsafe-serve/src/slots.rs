//! A global cap on guard work: decoding images and running guard layers is
//! CPU-bound, so at most `guard_concurrency` requests do it at once, at most
//! `guard_queue` more wait, and the rest get 429 with `Retry-After`.
//!
//! A request gives its slot back while the upstream answers ([`Unguarded`]
//! sits between the guard stack and the upstream target) and takes one again
//! for the response checks, so slow models do not starve the guard.

use async_trait::async_trait;
use mmsafe_core::{DynTarget, Request, Response, Target, TargetError, TargetInfo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Slots {
    sem: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// The queue is full.
pub struct Busy;

impl Slots {
    pub fn new(concurrency: usize, queue: usize) -> Arc<Slots> {
        Arc::new(Slots {
            sem: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        })
    }

    /// A slot now, or after waiting in the bounded queue.
    pub async fn admit(self: &Arc<Self>) -> Result<Arc<Held>, Busy> {
        let permit = match self.sem.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Busy);
                }
                let p = self.sem.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                p.map_err(|_| Busy)?
            }
        };
        Ok(Arc::new(Held {
            slots: self.clone(),
            permit: Mutex::new(Some(permit)),
            upstream_calls: AtomicUsize::new(0),
        }))
    }
}

/// One request's slot; released when dropped.
pub struct Held {
    slots: Arc<Slots>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    /// Upstream calls in progress (layers such as JailGuard make several).
    upstream_calls: AtomicUsize,
}

impl Held {
    fn release(&self) {
        if self.upstream_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }

    async fn reacquire(&self) {
        if self.upstream_calls.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        // Already admitted: wait for a slot without the queue bound, since
        // refusing now would waste the upstream answer.
        if let Ok(p) = self.slots.sem.clone().acquire_owned().await {
            let mut slot = self.permit.lock().unwrap_or_else(|p| p.into_inner());
            if self.upstream_calls.load(Ordering::SeqCst) == 0 && slot.is_none() {
                *slot = Some(p);
            }
        }
    }
}

tokio::task_local! {
    static HELD: Arc<Held>;
}

/// Run `f` (the guarded call) holding `held`.
pub async fn holding<F: std::future::Future>(held: Arc<Held>, f: F) -> F::Output {
    HELD.scope(held, f).await
}

/// The upstream target as the guard stack sees it: the request's slot is
/// free while the upstream works.
pub struct Unguarded(pub DynTarget);

#[async_trait]
impl Target for Unguarded {
    fn info(&self) -> &TargetInfo {
        self.0.info()
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let held = HELD.try_with(Arc::clone).ok();
        if let Some(h) = &held {
            h.release();
        }
        let r = self.0.call(req).await;
        if let Some(h) = &held {
            h.reacquire().await;
        }
        r
    }
}
