//! `Anthropic` (native Messages API) against a loopback scripted server.

use mmsafe_core::{DynTarget, FinishReason, Image, Message, Part, Request, TargetErrorKind};
use mmsafe_target::{
    build_http_target, with_ops, Anthropic, CacheMode, TargetOptions, ANTHROPIC_VERSION,
};
use mmsafe_testkit::{ScriptedReply, ScriptedServer};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-test-secret";

fn opts() -> TargetOptions {
    TargetOptions {
        cache: CacheMode::Off,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        ..TargetOptions::default()
    }
}

fn target(server: &ScriptedServer, key: &str, o: &TargetOptions) -> DynTarget {
    let raw = Anthropic::new(
        &server.url(),
        "claude-test",
        Some(key),
        "anthropic:claude-test",
    )
    .unwrap();
    with_ops(Arc::new(raw), o)
}

fn message(text: &str, stop_reason: &str) -> ScriptedReply {
    ScriptedReply::json(
        200,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-test-20250101",
            "content": [
                {"type": "thinking", "thinking": "hidden"},
                {"type": "text", "text": text},
            ],
            "stop_reason": stop_reason,
            "usage": {"input_tokens": 40, "output_tokens": 3, "cache_read_input_tokens": 2},
        }),
    )
}

fn api_error(status: u16, kind: &str, msg: &str) -> ScriptedReply {
    ScriptedReply::json(
        status,
        json!({"type": "error", "error": {"type": kind, "message": msg}}),
    )
}

fn greedy(text: &str) -> Request {
    let mut r = Request::new(vec![Message::user_text(text)]);
    r.temperature = Some(0.0);
    r
}

#[tokio::test]
async fn image_request_shape_system_placement_text_and_usage() {
    let server = ScriptedServer::start(|_, _| message("I can't help with that.", "end_turn"))
        .await
        .unwrap();
    let png = b"\x89PNG\r\n\x1a\n-test-".to_vec();
    let mut req = Request::new(vec![
        Message::system("You are careful."),
        Message::user(vec![
            Part::text("What does the image say?"),
            Part::image(Image::png(png)),
        ]),
    ]);
    req.temperature = Some(0.0);
    req.max_tokens = Some(64);
    req.stop = vec!["###".into()];
    let r = target(&server, KEY, &opts()).call(req).await.unwrap();

    assert_eq!(r.text, "I can't help with that.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage.prompt_tokens, 42);
    assert_eq!(r.usage.completion_tokens, 3);
    assert_eq!(r.model.as_deref(), Some("claude-test-20250101"));

    let sent = &server.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    assert_eq!(sent.header("authorization"), None);
    let body = &sent.json;
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["system"], "You are careful.");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["stop_sequences"], json!(["###"]));
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "system must not be a message: {body}");
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(
        msgs[0]["content"][0],
        json!({"type": "text", "text": "What does the image say?"})
    );
    assert_eq!(
        msgs[0]["content"][1],
        json!({"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgotdGVzdC0="
        }})
    );
}

#[tokio::test]
async fn max_tokens_defaults_when_the_request_has_none() {
    let server = ScriptedServer::start(|_, _| message("ok", "end_turn"))
        .await
        .unwrap();
    target(&server, KEY, &opts())
        .call(Request::new(vec![Message::user_text("hi")]))
        .await
        .unwrap();
    let body = &server.requests()[0].json;
    assert_eq!(body["max_tokens"], 1024);
    assert!(body.get("system").is_none(), "{body}");
}

#[tokio::test]
async fn stop_reasons_map_and_refusal_is_the_providers_block() {
    let server = ScriptedServer::start(|i, _| match i {
        0 => message("partial", "max_tokens"),
        1 => message("done", "stop_sequence"),
        2 => message("", "refusal"),
        _ => message("?", "pause_turn"),
    })
    .await
    .unwrap();
    let t = target(&server, KEY, &opts());
    let finish = |r: mmsafe_core::Response| r.finish_reason;
    assert_eq!(
        finish(t.call(greedy("a")).await.unwrap()),
        FinishReason::Length
    );
    assert_eq!(
        finish(t.call(greedy("b")).await.unwrap()),
        FinishReason::Stop
    );
    let blocked = t.call(greedy("c")).await.unwrap();
    assert_eq!(blocked.finish_reason, FinishReason::ContentFilter);
    assert_eq!(blocked.text, "");
    assert_eq!(
        finish(t.call(greedy("d")).await.unwrap()),
        FinishReason::Other("pause_turn".into())
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_through_with_ops() {
    let server = ScriptedServer::start(|i, _| {
        if i == 0 {
            api_error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            )
            .header("retry-after", "0.4")
        } else {
            message("ok", "end_turn")
        }
    })
    .await
    .unwrap();
    let start = Instant::now();
    let r = target(&server, KEY, &opts())
        .call(greedy("x"))
        .await
        .unwrap();
    // Backoff alone is ≤ 5 ms here; the wait is the server's retry-after.
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.retries, 1);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn overloaded_529_is_a_transient_server_error() {
    let server = ScriptedServer::start(|_, _| api_error(529, "overloaded_error", "Overloaded"))
        .await
        .unwrap();
    let o = TargetOptions {
        max_retries: 2,
        ..opts()
    };
    let e = target(&server, KEY, &o)
        .call(greedy("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Server);
    assert_eq!(e.retries, 2);
    assert_eq!(server.request_count(), 3);
    assert!(
        e.message.contains(&format!("{}/v1/messages", server.url())),
        "{}",
        e.message
    );
    assert!(e.message.contains("529"), "{}", e.message);
    assert!(
        e.message.contains("overloaded_error: Overloaded"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn bad_key_is_auth_not_retried_and_never_leaked() {
    let server =
        ScriptedServer::start(|_, _| api_error(401, "authentication_error", "invalid x-api-key"))
            .await
            .unwrap();
    let e = target(&server, KEY, &opts())
        .call(greedy("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Auth);
    assert_eq!(server.request_count(), 1);
    assert!(e.message.contains("authentication_error"), "{}", e.message);
    assert!(!e.message.contains(KEY), "{}", e.message);
    let raw = Anthropic::new(&server.url(), "m", Some(KEY), "anthropic:m").unwrap();
    assert!(!format!("{raw:?}").contains(KEY));
}

#[tokio::test]
async fn invalid_request_is_bad_request() {
    let server = ScriptedServer::start(|_, _| {
        api_error(
            400,
            "invalid_request_error",
            "messages: text content blocks must be non-empty",
        )
    })
    .await
    .unwrap();
    let e = target(&server, KEY, &opts())
        .call(greedy("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::BadRequest);
    assert_eq!(e.retries, 0);
    assert!(e.message.contains("must be non-empty"), "{}", e.message);
}

#[tokio::test]
async fn malformed_reply_is_malformed_and_not_retried() {
    let server = ScriptedServer::start(|i, _| match i {
        0 => ScriptedReply::raw(200, "{\"content\": [unterminated"),
        _ => ScriptedReply::json(200, json!({"type": "message"})),
    })
    .await
    .unwrap();
    let t = target(&server, KEY, &opts());
    let e = t.call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Malformed);
    assert_eq!(e.retries, 0);
    assert!(e.message.contains("/v1/messages"), "{}", e.message);
    let e = t.call(greedy("y")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Malformed);
    assert!(e.message.contains("no `content`"), "{}", e.message);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn spec_dispatch_needs_a_key_and_names_the_variable() {
    let o = TargetOptions {
        api_key_env: Some("MMSAFE_TEST_ANTHROPIC_KEY_NEVER_SET".into()),
        ..opts()
    };
    let e = build_http_target("anthropic:http://127.0.0.1:9#claude-test", &o)
        .err()
        .unwrap();
    assert_eq!(e.kind, TargetErrorKind::Config);
    assert!(
        e.message.contains("MMSAFE_TEST_ANTHROPIC_KEY_NEVER_SET"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("anthropic:http://127.0.0.1:9#claude-test"),
        "{}",
        e.message
    );
    let e = build_http_target("anthropic:", &o).err().unwrap();
    assert!(e.message.contains("no model"), "{}", e.message);
    // The OpenAI-compatible builder points native schemes to the right entry point.
    let e = mmsafe_target::OpenAiCompatible::from_spec("anthropic:claude-test", &o).unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Config);
    assert!(e.message.contains("build_http_target"), "{}", e.message);
}

#[tokio::test]
async fn image_in_a_system_message_is_refused_before_sending() {
    let server = ScriptedServer::start(|_, _| message("ok", "end_turn"))
        .await
        .unwrap();
    let sys = Message {
        role: mmsafe_core::Role::System,
        content: vec![Part::image(Image::png(b"\x89PNG\r\n\x1a\n".to_vec()))],
    };
    let req = Request::new(vec![sys, Message::user_text("hi")]);
    let e = target(&server, KEY, &opts()).call(req).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::BadRequest);
    assert!(e.message.contains("system"), "{}", e.message);
    assert_eq!(server.request_count(), 0);
}
