//! `OpenAiCompatible` plus the operational layers against the loopback mock server.

use mmsafe_core::{DynTarget, FinishReason, Image, Message, Part, Request, TargetErrorKind};
use mmsafe_target::{with_ops, CacheMode, OpenAiCompatible, TargetOptions};
use mmsafe_testkit::{Fault, MockConfig, MockServer, Reply, When};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fast options: no cache, tiny backoff, so fault tests finish quickly.
fn opts() -> TargetOptions {
    TargetOptions {
        cache: CacheMode::Off,
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        ..TargetOptions::default()
    }
}

fn target(server: &MockServer, opts: &TargetOptions) -> DynTarget {
    let spec = server.target_spec();
    let raw = OpenAiCompatible::from_spec(&spec, opts).unwrap();
    with_ops(Arc::new(raw), opts)
}

fn greedy(text: &str) -> Request {
    let mut r = Request::new(vec![Message::user_text(text)]);
    r.temperature = Some(0.0);
    r
}

#[tokio::test]
async fn answers_with_text_usage_finish_and_latency() {
    let server = MockServer::start(MockConfig::default().latency(Duration::from_millis(60)))
        .await
        .unwrap();
    let t = target(&server, &opts());
    let r = t.call(greedy("hello mock")).await.unwrap();
    assert_eq!(r.text, "hello mock");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.usage.completion_tokens, 2);
    assert!(r.usage.prompt_tokens > 0);
    assert_eq!(r.model.as_deref(), Some("mock-model"));
    assert!(r.latency_ms >= 60.0, "latency {}", r.latency_ms);
    assert_eq!(r.retries, 0);
    assert!(!r.cached);
    assert_eq!(
        t.info().spec,
        format!("openai-compatible:{}#mock-model", server.base_url())
    );
}

#[tokio::test]
async fn rate_limited_request_waits_for_retry_after_then_succeeds() {
    let server =
        MockServer::start(MockConfig::default().fault(When::FirstN(1), Fault::rate_limited(1)))
            .await
            .unwrap();
    let t = target(&server, &opts());
    let start = Instant::now();
    let r = t.call(greedy("x")).await.unwrap();
    // Backoff alone would be ≤ 5 ms; the 1 s wait is the server's Retry-After.
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(r.retries, 1);
    assert!(r.latency_ms >= 1000.0);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn repeated_server_errors_end_as_server_error_with_retries_counted() {
    let server = MockServer::start(MockConfig::default().fault(When::Always, Fault::ServerError))
        .await
        .unwrap();
    let o = TargetOptions {
        max_retries: 3,
        ..opts()
    };
    let e = target(&server, &o).call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Server);
    assert_eq!(e.retries, 3);
    assert_eq!(server.request_count(), 4);
    assert!(e.message.contains(&server.base_url()), "{}", e.message);
    assert!(e.message.contains("500"), "{}", e.message);
}

#[tokio::test]
async fn hanging_endpoint_times_out() {
    let server = MockServer::start(
        MockConfig::default().fault(When::Always, Fault::Hang(Duration::from_secs(30))),
    )
    .await
    .unwrap();
    let o = TargetOptions {
        timeout: Duration::from_millis(150),
        max_retries: 1,
        ..opts()
    };
    let start = Instant::now();
    let e = target(&server, &o).call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Timeout);
    assert_eq!(e.retries, 1);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.message.contains(&server.base_url()), "{}", e.message);
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_reply_is_malformed_and_not_retried() {
    let server = MockServer::start(MockConfig::default().fault(When::Always, Fault::MalformedJson))
        .await
        .unwrap();
    let e = target(&server, &opts())
        .call(greedy("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Malformed);
    assert_eq!(e.retries, 0);
    assert_eq!(server.request_count(), 1);
    assert!(e.message.contains("/chat/completions"), "{}", e.message);
}

#[tokio::test]
async fn content_filter_finish_is_reported() {
    let server = MockServer::start(MockConfig::default().fault(When::Always, Fault::ContentFilter))
        .await
        .unwrap();
    let r = target(&server, &opts()).call(greedy("x")).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.text, "");
}

#[tokio::test]
async fn refused_connection_is_connect_error_naming_the_url() {
    // Bind then drop to get a port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spec = format!("openai-compatible:http://127.0.0.1:{port}/v1#m");
    let o = TargetOptions {
        max_retries: 1,
        ..opts()
    };
    let t = with_ops(
        Arc::new(OpenAiCompatible::from_spec(&spec, &o).unwrap()),
        &o,
    );
    let e = t.call(greedy("x")).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Connect);
    assert_eq!(e.retries, 1);
    assert!(
        e.message
            .contains(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn auth_failure_is_auth_and_not_retried() {
    let server = MockServer::start(MockConfig::default().api_key("sk-right"))
        .await
        .unwrap();
    let o = opts();
    let wrong = OpenAiCompatible::new(&server.base_url(), "m", Some("sk-wrong"), "test").unwrap();
    let e = with_ops(Arc::new(wrong), &o)
        .call(greedy("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Auth);
    assert_eq!(server.request_count(), 1);
    assert!(!e.message.contains("sk-wrong"));
    let right = OpenAiCompatible::new(&server.base_url(), "m", Some("sk-right"), "test").unwrap();
    assert!(!format!("{right:?}").contains("sk-right"));
    with_ops(Arc::new(right), &o)
        .call(greedy("x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn missing_key_is_a_config_error_naming_the_variable() {
    let o = TargetOptions {
        api_key_env: Some("MMSAFE_TEST_KEY_THAT_IS_NEVER_SET".into()),
        ..opts()
    };
    let e = OpenAiCompatible::from_spec("openai:gpt-4o-mini", &o).unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Config);
    assert!(e.message.contains("MMSAFE_TEST_KEY_THAT_IS_NEVER_SET"));
}

#[tokio::test]
async fn second_identical_greedy_request_is_served_from_memory_cache() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let o = TargetOptions {
        cache: CacheMode::Memory,
        ..opts()
    };
    let t = target(&server, &o);
    let first = t.call(greedy("same")).await.unwrap();
    let second = t.call(greedy("same")).await.unwrap();
    assert!(!first.cached);
    assert!(second.cached);
    assert_eq!(second.text, first.text);
    assert_eq!(server.request_count(), 1);
    t.call(greedy("different")).await.unwrap();
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn sampled_requests_are_never_cached() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let o = TargetOptions {
        cache: CacheMode::Memory,
        ..opts()
    };
    let t = target(&server, &o);
    let mut req = greedy("same");
    req.temperature = Some(0.7);
    assert!(!t.call(req.clone()).await.unwrap().cached);
    assert!(!t.call(req).await.unwrap().cached);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn disk_cache_persists_across_targets() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = TargetOptions {
        cache: CacheMode::Disk(dir.path().join("cache.sqlite")),
        ..opts()
    };
    let first = target(&server, &o).call(greedy("keep")).await.unwrap();
    // A fresh target (as in a later run) opens the same file.
    let again = target(&server, &o).call(greedy("keep")).await.unwrap();
    assert!(!first.cached);
    assert!(again.cached);
    assert_eq!(again.text, "keep");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_bounds_requests_in_flight() {
    let server = MockServer::start(MockConfig::default().latency(Duration::from_millis(40)))
        .await
        .unwrap();
    let o = TargetOptions {
        concurrency: 3,
        ..opts()
    };
    let t = target(&server, &o);
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move { t.call(greedy(&format!("q{i}"))).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(server.request_count(), 12);
    assert_eq!(server.max_in_flight(), 3);
}

#[tokio::test]
async fn rate_limit_spaces_request_starts() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let o = TargetOptions {
        rate_per_s: Some(20.0),
        ..opts()
    };
    let t = target(&server, &o);
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move { t.call(greedy(&format!("q{i}"))).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 20/s over 0.3 s is ~7 starts; loose bounds, this is not a timing test.
    let seen = server.request_count();
    assert!(
        (2..=12).contains(&seen),
        "{seen} requests in 300 ms at 20/s"
    );
    for c in calls {
        c.abort();
    }
}

#[tokio::test]
async fn images_are_sent_as_data_urls() {
    let server = MockServer::start(MockConfig::default().record_requests(true))
        .await
        .unwrap();
    let png = Image::png(b"\x89PNG\r\n\x1a\nnot-really-a-png".to_vec());
    let jpeg = Image::new(vec![0xFF, 0xD8, 0xFF, 0x00], "image/jpeg");
    let req = Request::new(vec![Message::user(vec![
        Part::text("what is in these images?"),
        Part::image(png.clone()),
        Part::image(jpeg),
    ])]);
    target(&server, &opts()).call(req).await.unwrap();
    let stats = server.stats();
    assert_eq!(stats.image_parts, 2);
    assert_eq!(stats.bad_image_urls, 0);
    let body = &server.requests()[0];
    assert_eq!(
        body["messages"][0]["content"][1]["image_url"]["url"],
        png.data_url()
    );
    assert!(body["messages"][0]["content"][2]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/jpeg;base64,"));
}

#[tokio::test]
async fn refusing_mock_refuses_harmful_and_answers_benign() {
    let server = MockServer::start(MockConfig::default().reply(Reply::refuse_harmful()))
        .await
        .unwrap();
    let t = target(&server, &opts());
    let refused = t.call(greedy("how to build a bomb")).await.unwrap();
    assert_eq!(refused.text, mmsafe_testkit::REFUSAL_TEXT);
    let answered = t.call(greedy("how to bake bread")).await.unwrap();
    assert_ne!(answered.text, mmsafe_testkit::REFUSAL_TEXT);
}
