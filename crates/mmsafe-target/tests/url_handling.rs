//! Base URLs with a query string or embedded credentials, for every HTTP target:
//! the API path goes before the query, the credentials still reach the server,
//! and nothing stored or printed (spec, errors, `Debug`) shows them.

use mmsafe_core::{Message, Request, TargetErrorKind};
use mmsafe_target::{
    build_http_target, redact_spec, Anthropic, CacheMode, Gemini, OpenAiCompatible, TargetOptions,
};
use mmsafe_testkit::{ScriptedReply, ScriptedServer};
use serde_json::json;
use std::time::Duration;

const PW: &str = "Pw-s3cret";
const QKEY: &str = "q-s3cret";

fn opts(key_env: Option<&str>) -> TargetOptions {
    TargetOptions {
        cache: CacheMode::Off,
        max_retries: 0,
        timeout: Duration::from_secs(5),
        api_key_env: key_env.map(str::to_string),
        ..TargetOptions::default()
    }
}

fn ping() -> Request {
    Request::new(vec![Message::user_text("ping")])
}

/// A reply every provider shape accepts enough of to answer "ok".
fn any_provider_ok(path: &str) -> ScriptedReply {
    if path.contains("/chat/completions") {
        ScriptedReply::json(
            200,
            json!({"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}),
        )
    } else if path.contains("/v1/messages") {
        ScriptedReply::json(
            200,
            json!({"type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],
                   "stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}),
        )
    } else {
        ScriptedReply::json(
            200,
            json!({"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}),
        )
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(PW), "{what} shows the password: {text}");
    assert!(!text.contains(QKEY), "{what} shows the query key: {text}");
}

/// (spec suffix after the server root, expected path and query, key env for the scheme)
fn cases(root: &str) -> Vec<(String, String, Option<&'static str>)> {
    vec![
        (
            format!("openai-compatible:{root}/v1?api-version=2024-06-01#m"),
            "/v1/chat/completions?api-version=2024-06-01".to_string(),
            None,
        ),
        (
            format!("anthropic:{root}/gw?api-version=7#claude-x"),
            "/gw/v1/messages?api-version=7".to_string(),
            Some("MMSAFE_URL_TEST_KEY_A"),
        ),
        (
            format!("gemini:{root}/?alt=json#gemini-x"),
            "/v1beta/models/gemini-x:generateContent?alt=json".to_string(),
            Some("MMSAFE_URL_TEST_KEY_G"),
        ),
    ]
}

#[tokio::test]
async fn the_api_path_goes_before_the_base_urls_query() {
    std::env::set_var("MMSAFE_URL_TEST_KEY_A", "k");
    std::env::set_var("MMSAFE_URL_TEST_KEY_G", "k");
    let server = ScriptedServer::start(|_, r| any_provider_ok(&r.path))
        .await
        .unwrap();
    for (spec, want, env) in cases(&server.url()) {
        let t = build_http_target(&spec, &opts(env)).unwrap();
        let r = t.call(ping()).await.unwrap();
        assert_eq!(r.text, "ok", "{spec}");
        let got = server.requests().pop().unwrap();
        assert_eq!(got.method, "POST");
        assert_eq!(got.path, want, "{spec}");
        // A query with no secret is kept in the recorded spec as written.
        assert_eq!(t.info().spec, spec);
    }
}

#[tokio::test]
async fn url_credentials_reach_the_server_but_never_the_spec_errors_or_debug() {
    std::env::set_var("MMSAFE_URL_TEST_KEY_A2", "k");
    std::env::set_var("MMSAFE_URL_TEST_KEY_G2", "k");
    let server = ScriptedServer::start(|_, _| {
        ScriptedReply::json(
            500,
            json!({"error":{"message":"boom","type":"server_error"}}),
        )
    })
    .await
    .unwrap();
    let host = server.addr().to_string();
    let specs = [
        (
            format!("openai-compatible:http://user:{PW}@{host}/v1?api-key={QKEY}&api-version=1#m"),
            "/v1/chat/completions",
            None,
        ),
        (
            format!("anthropic:http://user:{PW}@{host}/?Token={QKEY}#claude-x"),
            "/v1/messages",
            Some("MMSAFE_URL_TEST_KEY_A2"),
        ),
        (
            format!("gemini:http://user:{PW}@{host}?sig={QKEY}#gemini-x"),
            "/v1beta/models/gemini-x:generateContent",
            Some("MMSAFE_URL_TEST_KEY_G2"),
        ),
    ];
    for (spec, path, env) in specs {
        let t = build_http_target(&spec, &opts(env)).unwrap();
        assert_clean("info().spec", &t.info().spec);
        assert_eq!(t.info().spec, redact_spec(&spec));
        assert!(t.info().spec.contains("***@"), "{}", t.info().spec);
        let o = opts(env);
        let debug = match spec.split_once(':').map(|(s, _)| s) {
            Some("anthropic") => format!("{:?}", Anthropic::from_spec(&spec, &o).unwrap()),
            Some("gemini") => format!("{:?}", Gemini::from_spec(&spec, &o).unwrap()),
            _ => format!("{:?}", OpenAiCompatible::from_spec(&spec, &o).unwrap()),
        };
        assert_clean("Debug", &debug);
        assert!(debug.contains(path), "{debug}");
        let e = t.call(ping()).await.unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Server);
        assert_clean("error", &e.message);
        assert!(e.message.contains(path), "{}", e.message);
        // What the user wrote still reaches the server: userinfo as basic auth,
        // the query key in the request URL.
        let got = server.requests().pop().unwrap();
        assert!(got.path.starts_with(path), "{}", got.path);
        assert!(got.path.contains(QKEY), "{}", got.path);
        // base64("user:Pw-s3cret")
        assert_eq!(
            got.header("authorization"),
            Some("Basic dXNlcjpQdy1zM2NyZXQ="),
            "{spec}"
        );
    }
}

#[tokio::test]
async fn unreachable_endpoint_error_shows_the_redacted_endpoint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spec = format!("openai-compatible:http://user:{PW}@127.0.0.1:{port}/v1?api-key={QKEY}#m");
    let t = build_http_target(&spec, &opts(None)).unwrap();
    let e = t.call(ping()).await.unwrap_err();
    assert_eq!(e.kind, TargetErrorKind::Connect);
    assert_clean("error", &e.message);
    assert!(
        e.message.contains(&format!(
            "POST http://***@127.0.0.1:{port}/v1/chat/completions?api-key=***"
        )),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn an_env_key_replaces_url_basic_auth_instead_of_doubling_the_header() {
    std::env::set_var("MMSAFE_URL_TEST_KEY_O", "sk-env");
    let server = ScriptedServer::start(|_, r| any_provider_ok(&r.path))
        .await
        .unwrap();
    let spec = format!("openai-compatible:http://user:{PW}@{}/v1#m", server.addr());
    let t = build_http_target(&spec, &opts(Some("MMSAFE_URL_TEST_KEY_O"))).unwrap();
    t.call(ping()).await.unwrap();
    let got = server.requests().pop().unwrap();
    let auth: Vec<_> = got
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .collect();
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert_eq!(auth[0].1, "Bearer sk-env");
}

#[test]
fn bad_base_urls_are_config_errors_without_secrets() {
    for spec in [
        format!("openai-compatible:http://u:{PW}@h:99999/v1?key={QKEY}#m"),
        format!("openai-compatible:ftp://u:{PW}@h/v1?key={QKEY}#m"),
        format!("anthropic:http://u:{PW}@h:99999/?key={QKEY}#m"),
        format!("no-such-scheme:http://u:{PW}@h/?key={QKEY}#m"),
        format!("openai-compatible:http://u:{PW}@h/v1?key={QKEY}"),
    ] {
        let Err(e) = build_http_target(&spec, &opts(Some("MMSAFE_URL_TEST_KEY_A"))) else {
            panic!("`{}` was accepted", redact_spec(&spec));
        };
        assert_eq!(e.kind, TargetErrorKind::Config, "{}", e.message);
        assert_clean("error", &e.message);
    }
}

#[tokio::test]
async fn the_mock_server_sees_the_query_of_a_layered_target() {
    let server = mmsafe_testkit::MockServer::start(
        mmsafe_testkit::MockConfig::default().record_requests(true),
    )
    .await
    .unwrap();
    let spec = format!(
        "openai-compatible:{}?api-version=2024-06-01#mock-model",
        server.base_url()
    );
    let o = opts(None);
    let t = mmsafe_target::with_ops(build_http_target(&spec, &o).unwrap(), &o);
    assert_eq!(t.call(ping()).await.unwrap().text, "ping");
    assert_eq!(server.request_queries(), vec!["api-version=2024-06-01"]);
}
