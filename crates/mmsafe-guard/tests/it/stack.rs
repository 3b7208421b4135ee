use crate::support::*;
use async_trait::async_trait;
use mmsafe_core::{FinishReason, Layer, Message, Request, TargetErrorKind};
use mmsafe_guard::{Check, CheckLayer, Decision, GuardError, GuardOptions};
use std::sync::Arc;

struct Blocker;
#[async_trait]
impl Check for Blocker {
    fn name(&self) -> &str {
        "blocker"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        Ok(if req.prompt_text().contains("bad") {
            Decision::block("contains bad")
        } else {
            Decision::pass("fine")
        })
    }
}

struct Broken;
#[async_trait]
impl Check for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    async fn on_request(&self, _: &Request) -> Result<Decision<Request>, GuardError> {
        Err(GuardError::new("broken", "model file missing"))
    }
}

fn req(text: &str) -> Request {
    Request::new(vec![Message::user_text(text)])
}

#[tokio::test]
async fn block_answers_without_calling_the_target() {
    let t = Recorder::echo();
    let s = CheckLayer::new(Arc::new(Blocker), GuardOptions::default()).layer(t.clone());
    let r = s.call(req("a bad request")).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::GuardBlocked);
    assert_eq!(r.text, mmsafe_guard::DEFAULT_REFUSAL);
    assert_eq!(t.calls(), 0);
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].decision, "block");
    assert_eq!(r.events[0].reason, "contains bad");

    let r = s.call(req("a good request")).await.unwrap();
    assert_eq!(r.text, "a good request");
    assert_eq!(t.calls(), 1);
    assert_eq!(r.events[0].decision, "pass");
}

#[tokio::test]
async fn failing_layer_is_fail_closed_unless_fail_open() {
    let t = Recorder::echo();
    let closed = CheckLayer::new(Arc::new(Broken), GuardOptions::default()).layer(t.clone());
    let e = closed.call(req("hi")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Guard);
    assert!(e.message.contains("model file missing"), "{}", e.message);
    assert_eq!(t.calls(), 0);

    let open = CheckLayer::new(
        Arc::new(Broken),
        GuardOptions {
            fail_open: true,
            ..GuardOptions::default()
        },
    )
    .layer(t.clone());
    let r = open.call(req("hi")).await.unwrap();
    assert_eq!(r.text, "hi");
    assert_eq!(r.events[0].decision, "error");
}

#[tokio::test]
async fn events_are_in_order_outer_first() {
    let t = Recorder::echo();
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(CheckLayer::new(Arc::new(Blocker), GuardOptions::default())),
        Arc::new(CheckLayer::new(
            Arc::new(mmsafe_guard::layers::prompt_static::PromptStatic::default()),
            GuardOptions::default(),
        )),
    ];
    let s = mmsafe_core::target::stack(&layers, t.clone());
    let r = s.call(req("describe the photo")).await.unwrap();
    let names: Vec<&str> = r.events.iter().map(|e| e.layer.as_str()).collect();
    assert_eq!(names, ["blocker", "prompt:static"]);
    assert!(t
        .last()
        .prompt_text()
        .starts_with("describe the photo\n\nBefore you act"));
}
