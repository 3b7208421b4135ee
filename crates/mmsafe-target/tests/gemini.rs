//! `Gemini` (native generateContent API) against a loopback scripted server.

use mmsafe_core::{DynTarget, FinishReason, Image, Message, Part, Request, TargetErrorKind};
use mmsafe_target::{build_http_target, with_ops, CacheMode, Gemini, TargetOptions};
use mmsafe_testkit::{ScriptedReply, ScriptedServer};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "AIza-test-secret";
const PATH: &str = "/v1beta/models/gemini-test:generateContent";

fn opts() -> TargetOptions {
    TargetOptions {
        cache: CacheMode::Off,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        ..TargetOptions::default()
    }
}

fn target(server: &ScriptedServer, o: &TargetOptions) -> DynTarget {
    let raw = Gemini::new(
        &server.url(),
        "gemini-test",
        Some(KEY),
        "gemini:gemini-test",
    )
    .unwrap();
    with_ops(Arc::new(raw), o)
}

fn candidate(text: &str, finish: &str) -> ScriptedReply {
    ScriptedReply::json(
        200,
        json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "thinking about it", "thought": true},
                    {"text": text},
                ]},
                "finishReason": finish,
                "index": 0,
            }],
            "usageMetadata": {
                "promptTokenCount": 300, "candidatesTokenCount": 4,
                "thoughtsTokenCount": 6, "totalTokenCount": 310,
            },
            "modelVersion": "gemini-test-001",
        }),
    )
}

fn google_error(status: u16, code: &str, msg: &str, details: serde_json::Value) -> ScriptedReply {
    ScriptedReply::json(
        status,
        json!({"error": {"code": status, "message": msg, "status": code, "details": details}}),
    )
}

fn greedy(text: &str) -> Request {
    let mut r = Request::new(vec![Message::user_text(text)]);
    r.temperature = Some(0.0);
    r
}

#[tokio::test]
async fn image_request_shape_system_instruction_text_and_usage() {
    let server = ScriptedServer::start(|_, _| candidate("It says hello.", "STOP"))
        .await
        .unwrap();
    let jpeg = b"\xff\xd8\xff\xe0-test-".to_vec();
    let mut req = Request::new(vec![
        Message::system("You are careful."),
        Message::user(vec![
            Part::text("What does the image say?"),
            Part::image(Image::new(jpeg, "image/jpeg")),
        ]),
        Message::assistant("Let me look."),
        Message::user_text("Go on."),
    ]);
    req.temperature = Some(0.0);
    req.top_p = Some(0.9);
    req.max_tokens = Some(64);
    req.seed = Some(42);
    req.stop = vec!["###".into()];
    let r = target(&server, &opts()).call(req).await.unwrap();

    assert_eq!(r.text, "It says hello.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage.prompt_tokens, 300);
    assert_eq!(r.usage.completion_tokens, 10);
    assert_eq!(r.model.as_deref(), Some("gemini-test-001"));

    let sent = &server.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, PATH, "the key must not travel in the URL");
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    let body = &sent.json;
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are careful."}]})
    );
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "system must not be a turn: {body}");
    assert_eq!(contents[0]["role"], "user");
    assert_eq!(
        contents[0]["parts"],
        json!([
            {"text": "What does the image say?"},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4C10ZXN0LQ=="}},
        ])
    );
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(contents[2]["parts"], json!([{"text": "Go on."}]));
    let cfg = &body["generationConfig"];
    assert_eq!(cfg["maxOutputTokens"], 64);
    assert_eq!(cfg["temperature"], 0.0);
    assert!((cfg["topP"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(cfg["seed"], 42);
    assert_eq!(cfg["stopSequences"], json!(["###"]));
}

#[tokio::test]
async fn finish_reasons_and_provider_blocks_are_responses() {
    let server = ScriptedServer::start(|i, _| match i {
        0 => candidate("cut", "MAX_TOKENS"),
        1 => ScriptedReply::json(
            200,
            json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]}),
        ),
        2 => candidate("", "PROHIBITED_CONTENT"),
        3 => candidate("", "BLOCKLIST"),
        // The prompt itself is blocked: no candidates at all.
        _ => ScriptedReply::json(
            200,
            json!({
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
            }),
        ),
    })
    .await
    .unwrap();
    let t = target(&server, &opts());
    let r = t.call(greedy("a")).await.unwrap();
    assert_eq!(
        (r.text.as_str(), r.finish_reason),
        ("cut", FinishReason::Length)
    );
    for q in ["b", "c", "d"] {
        let r = t.call(greedy(q)).await.unwrap();
        assert_eq!(r.finish_reason, FinishReason::ContentFilter, "{q}");
        assert_eq!(r.text, "");
    }
    let r = t.call(greedy("e")).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.text, "");
    assert_eq!(r.usage.prompt_tokens, 12);
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_through_with_ops() {
    let server = ScriptedServer::start(|i, _| {
        if i == 0 {
            google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", json!([]))
                .header("retry-after", "0.4")
        } else {
            candidate("ok", "STOP")
        }
    })
    .await
    .unwrap();
    let start = Instant::now();
    let r = target(&server, &opts()).call(greedy("x")).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.retries, 1);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn retry_delay_in_the_error_body_counts_as_retry_after() {
    let server = ScriptedServer::start(|i, _| {
        if i == 0 {
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded",
                json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.4s"}]),
            )
        } else {
            candidate("ok", "STOP")
        }
    })
    .await
    .unwrap();
    let start = Instant::now();
    let r = target(&server, &opts()).call(greedy("x")).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.retries, 1);
}

#[tokio::test]
async fn unavailable_is_a_transient_server_error_naming_the_url() {
    let server = ScriptedServer::start(|_, _| {
        google_error(503, "UNAVAILABLE", "The model is overloaded.", json!([]))
    })
    .await
    .unwrap();
    let o = TargetOptions {
        max_retries: 1,
        ..opts()
    };
    let e = target(&server, &o).call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Server);
    assert_eq!(e.retries, 1);
    assert!(
        e.message.contains(&format!("{}{PATH}", server.url())),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("UNAVAILABLE: The model is overloaded."),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn bad_key_is_auth_not_retried_and_never_leaked() {
    // Google answers an invalid key with 400, not 401.
    let server = ScriptedServer::start(|i, _| match i {
        0 => google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]),
        ),
        1 => google_error(403, "PERMISSION_DENIED", "Permission denied", json!([])),
        _ => google_error(400, "INVALID_ARGUMENT", "Invalid value at 'contents'", json!([])),
    })
    .await
    .unwrap();
    let t = target(&server, &opts());
    for _ in 0..2 {
        let e = t.call(greedy("x")).await.unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Auth, "{}", e.message);
        assert_eq!(e.retries, 0);
        assert!(!e.message.contains(KEY), "{}", e.message);
    }
    let e = t.call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::BadRequest, "{}", e.message);
    assert_eq!(server.request_count(), 3);
    let raw = Gemini::new(&server.url(), "m", Some(KEY), "gemini:m").unwrap();
    assert!(!format!("{raw:?}").contains(KEY));
}

#[tokio::test]
async fn malformed_reply_is_malformed_and_not_retried() {
    let server = ScriptedServer::start(|i, _| match i {
        0 => ScriptedReply::raw(200, "{\"candidates\": [oops"),
        _ => ScriptedReply::json(200, json!({"usageMetadata": {}})),
    })
    .await
    .unwrap();
    let t = target(&server, &opts());
    let e = t.call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Malformed);
    assert_eq!(e.retries, 0);
    assert!(e.message.contains(PATH), "{}", e.message);
    let e = t.call(greedy("y")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Malformed);
    assert!(e.message.contains("no candidates"), "{}", e.message);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn spec_dispatch_needs_a_key_and_checks_the_model() {
    let o = TargetOptions {
        api_key_env: Some("MMSAFE_TEST_GEMINI_KEY_NEVER_SET".into()),
        ..opts()
    };
    let e = build_http_target("gemini:http://127.0.0.1:9#gemini-test", &o)
        .err()
        .unwrap();
    assert_eq!(e.kind, TargetErrorKind::Config);
    assert!(
        e.message.contains("MMSAFE_TEST_GEMINI_KEY_NEVER_SET"),
        "{}",
        e.message
    );
    let e = build_http_target("gemini:gemini?key=x", &o).err().unwrap();
    assert_eq!(e.kind, TargetErrorKind::Config);
    assert!(
        e.message.contains("not a Gemini model name"),
        "{}",
        e.message
    );
}
