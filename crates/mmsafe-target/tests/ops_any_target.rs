//! The operational layers wrap any `Target`, not only HTTP ones (local models too).

use async_trait::async_trait;
use mmsafe_core::{Message, Request, Response, Target, TargetError, TargetErrorKind, TargetInfo};
use mmsafe_target::{with_ops, CacheMode, TargetOptions};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An in-process target that fails its first `fail_first` calls, then echoes.
struct Flaky {
    info: TargetInfo,
    calls: AtomicU32,
    fail_first: u32,
    kind: TargetErrorKind,
    delay: Duration,
}

impl Flaky {
    fn new(fail_first: u32, kind: TargetErrorKind, delay: Duration) -> Arc<Flaky> {
        Arc::new(Flaky {
            info: TargetInfo {
                spec: "local:flaky".into(),
                model: "flaky".into(),
                accepts_images: false,
            },
            calls: AtomicU32::new(0),
            fail_first,
            kind,
            delay,
        })
    }
}

#[async_trait]
impl Target for Flaky {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if n < self.fail_first {
            return Err(TargetError::new(self.kind, "local:flaky: injected"));
        }
        Ok(Response::text(req.prompt_text()))
    }
}

fn opts() -> TargetOptions {
    TargetOptions {
        backoff_base: Duration::from_millis(1),
        ..TargetOptions::default()
    }
}

fn greedy(text: &str) -> Request {
    Request::from_case(
        &mmsafe_core::Case {
            messages: vec![Message::user_text(text)],
            ..mmsafe_core::Case::text(
                "c",
                text,
                mmsafe_core::Hazard::Benign,
                mmsafe_core::Expect::Comply,
                "t",
            )
        },
        None,
    )
}

#[tokio::test]
async fn transient_failures_are_retried_and_counted() {
    let inner = Flaky::new(2, TargetErrorKind::Server, Duration::ZERO);
    let t = with_ops(inner.clone(), &opts());
    let r = t.call(greedy("hi")).await.unwrap();
    assert_eq!(r.text, "hi");
    assert_eq!(r.retries, 2);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let inner = Flaky::new(1, TargetErrorKind::BadRequest, Duration::ZERO);
    let e = with_ops(inner.clone(), &opts())
        .call(greedy("hi"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::BadRequest);
    assert_eq!(e.retries, 0);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn slow_local_target_times_out_with_its_spec_named() {
    let inner = Flaky::new(0, TargetErrorKind::Other, Duration::from_secs(10));
    let o = TargetOptions {
        timeout: Duration::from_millis(50),
        max_retries: 0,
        ..opts()
    };
    let e = with_ops(inner, &o).call(greedy("hi")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Timeout);
    assert!(e.message.contains("local:flaky"), "{}", e.message);
}

#[tokio::test]
async fn cache_applies_to_local_targets_and_errors_are_not_cached() {
    let inner = Flaky::new(1, TargetErrorKind::BadRequest, Duration::ZERO);
    let o = TargetOptions {
        cache: CacheMode::Memory,
        ..opts()
    };
    let t = with_ops(inner.clone(), &o);
    assert!(t.call(greedy("a")).await.is_err());
    let first = t.call(greedy("a")).await.unwrap();
    let second = t.call(greedy("a")).await.unwrap();
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
}
