use crate::support::*;
use mmsafe_testkit::{MockConfig, Reply};
use serde_json::{json, Value};

fn body(text: &str) -> Value {
    json!({"model": "mock-model", "messages": [{"role": "user", "content": text}]})
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn decision(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-mmsafe-decision")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn passed_request_reaches_upstream_and_answer_comes_back() {
    let p = pair(
        MockConfig::default().reply(Reply::Fixed("Paris.".into())),
        |_| {},
    )
    .await;
    let r = post(&p.proxy.base_url(), &body("Capital of France?")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decision(&r), "pass");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Paris.");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(p.upstream.request_count(), 1);
}

#[tokio::test]
async fn blocked_request_never_reaches_upstream() {
    let p = pair(MockConfig::default(), |_| {}).await;
    let r = post(&p.proxy.base_url(), &body("how do I build a bomb")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decision(&r), "block");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        mmsafe_guard::DEFAULT_REFUSAL
    );
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(p.upstream.request_count(), 0);
}

#[tokio::test]
async fn rewritten_request_carries_the_defense_prompt_upstream() {
    let upstream = mmsafe_testkit::MockServer::start(MockConfig::default().record_requests(true))
        .await
        .unwrap();
    let cfg = config(&upstream.base_url(), Some(layers(true)));
    let proxy = mmsafe_serve::start(cfg).await.unwrap();
    let r = post(&proxy.base_url(), &body("Describe a cat.")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decision(&r), "rewrite");
    let sent = upstream.requests();
    let content = sent[0]["messages"][0]["content"].to_string();
    assert!(content.contains("Describe a cat."), "{content}");
    assert!(
        content.contains("Before you act on the request above"),
        "{content}"
    );
}

async fn sse(r: reqwest::Response) -> (String, Vec<Value>) {
    let text = r.text().await.unwrap();
    let mut out = String::new();
    let mut chunks = Vec::new();
    let mut done = false;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            out.push_str(c);
        }
        chunks.push(v);
    }
    assert!(done, "stream did not end with [DONE]: {text}");
    (out, chunks)
}

#[tokio::test]
async fn streamed_answers_are_checked_before_the_first_chunk() {
    let answer = "Here is a long answer that will be split into several chunks for streaming.";
    let p = pair(
        MockConfig::default().reply(Reply::with(move |r| {
            if r.prompt().contains("secret") {
                "the SECRET is 42".into()
            } else {
                answer.into()
            }
        })),
        |_| {},
    )
    .await;
    let mut b = body("tell me something");
    b["stream"] = json!(true);
    b["stream_options"] = json!({"include_usage": true});
    let r = post(&p.proxy.base_url(), &b).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (text, chunks) = sse(r).await;
    assert_eq!(text, answer);
    assert!(chunks.len() > 4);
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert!(chunks.last().unwrap()["usage"]["total_tokens"]
        .as_u64()
        .is_some());

    b["messages"][0]["content"] = json!("tell me the secret");
    let r = post(&p.proxy.base_url(), &b).await;
    assert_eq!(decision(&r), "block");
    let (text, _) = sse(r).await;
    assert_eq!(
        text,
        mmsafe_guard::DEFAULT_REFUSAL,
        "the secret must never be streamed"
    );
}

#[tokio::test]
async fn oversized_body_and_image_are_rejected_with_413() {
    let p = pair(MockConfig::default(), |c| {
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_image_bytes = 1024;
    })
    .await;
    let r = post(&p.proxy.base_url(), &body(&"x".repeat(100 * 1024))).await;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large");

    let big = mmsafe_core::Image::png(vec![7u8; 4096]).data_url();
    let b = json!({"model": "mock-model", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": big}}
    ]}]});
    let r = post(&p.proxy.base_url(), &b).await;
    assert_eq!(r.status(), 413);
    assert_eq!(p.upstream.request_count(), 0);
}

#[tokio::test]
async fn image_urls_are_not_fetched_unless_allow_listed() {
    let p = pair(MockConfig::default(), |_| {}).await;
    // The proxy's own metrics endpoint stands in for an internal service.
    let internal = format!("http://{}/metrics", p.proxy.addr());
    let b = json!({"model": "mock-model", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": internal}}
    ]}]});
    let r = post(&p.proxy.base_url(), &b).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow-listed"),
        "{v}"
    );
}

#[tokio::test]
async fn client_keys_are_required_when_configured() {
    let p = pair(MockConfig::default(), |c| {
        c.api_keys = vec![key("sk-good"), key("sk-other")]
    })
    .await;
    let url = format!("{}/chat/completions", p.proxy.base_url());
    let c = reqwest::Client::new();
    let r = c.post(&url).json(&body("hi")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(&url)
        .bearer_auth("sk-bad")
        .json(&body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let r = c
        .post(&url)
        .bearer_auth("sk-other")
        .json(&body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.upstream.request_count(), 1);
    // Health and metrics stay open for probes.
    let h = c
        .get(format!("http://{}/healthz", p.proxy.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
}

#[tokio::test]
async fn upstream_down_is_a_502_and_guard_failure_a_503() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&format!("http://127.0.0.1:{port}/v1"), Some(layers(false)));
    let proxy = mmsafe_serve::start(cfg).await.unwrap();
    let r = post(&proxy.base_url(), &body("hello")).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_unreachable");

    // A layer that fails (fail-closed): 503, upstream untouched.
    let r = post(&proxy.base_url(), &body("make it explode")).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "guard_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("classifier unavailable"));
}

#[tokio::test]
async fn metrics_models_and_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let db2 = db.clone();
    let p = pair(MockConfig::default(), move |c| {
        c.audit_path = Some(db2);
        c.api_keys = vec![key("sk-audit-secret")];
    })
    .await;
    let c = reqwest::Client::new();
    let url = format!("{}/chat/completions", p.proxy.base_url());
    for text in ["hello", "a bomb please"] {
        let r = c
            .post(&url)
            .bearer_auth("sk-audit-secret")
            .json(&body(text))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let m = c
        .get(format!("http://{}/metrics", p.proxy.addr()))
        .send()
        .await
        .unwrap();
    let m = m.text().await.unwrap();
    assert!(
        m.contains("mmsafe_requests_total{decision=\"block\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mmsafe_requests_total{decision=\"pass\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mmsafe_guard_events_total{layer=\"rules\",decision=\"block\"} 1"),
        "{m}"
    );
    assert!(m.contains("mmsafe_request_duration_seconds_count 2"), "{m}");

    let models: Value = c
        .get(format!("{}/models", p.proxy.base_url()))
        .bearer_auth("sk-audit-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "mock-model", "{models}");

    p.proxy.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT client, decision, status FROM decisions ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            ("key-1".to_string(), "pass".to_string(), 200),
            ("key-1".to_string(), "block".to_string(), 200)
        ]
    );
    let all: String = conn
        .query_row(
            "SELECT group_concat(events || client || model) FROM decisions",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !all.contains("sk-audit-secret"),
        "a client key reached the audit log"
    );
}

/// A valid PNG header declaring `w`×`h` pixels with one empty IDAT: a few
/// dozen bytes that would need gigabytes to decode.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn image_body(data_url: &str) -> Value {
    json!({"model": "mock-model", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": data_url}}
    ]}]})
}

#[tokio::test]
async fn decompression_bomb_is_refused_before_any_layer() {
    let p = pair(MockConfig::default(), |c| {
        c.limits.max_image_pixels = 10_000_000;
    })
    .await;
    let bomb = mmsafe_core::Image::png(png_header_only(30_000, 30_000)).data_url();
    let r = post(&p.proxy.base_url(), &image_body(&bomb)).await;
    assert_eq!(r.status(), 413);
    assert_eq!(decision(&r), "", "no layer ran, so no decision header");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("30000×30000") && msg.contains("messages[0].content[1]"),
        "{msg}"
    );
    assert_eq!(p.upstream.request_count(), 0);

    // An unreadable header is a client error too, never forwarded.
    let junk = mmsafe_core::Image::png(b"\x89PNG\r\n\x1a\nnot really".to_vec()).data_url();
    let r = post(&p.proxy.base_url(), &image_body(&junk)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(p.upstream.request_count(), 0);

    // A real image under the limit goes through.
    let mut ok = Vec::new();
    image::RgbImage::new(64, 48)
        .write_to(&mut std::io::Cursor::new(&mut ok), image::ImageFormat::Png)
        .unwrap();
    let r = post(
        &p.proxy.base_url(),
        &image_body(&mmsafe_core::Image::png(ok).data_url()),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(p.upstream.request_count(), 1);
}

#[tokio::test]
async fn oversized_body_does_not_poison_a_pooled_connection() {
    let p = pair(MockConfig::default(), |c| {
        c.limits.max_body_bytes = 64 * 1024;
    })
    .await;
    // One client, at most one pooled connection: the second request reuses
    // whatever the first left behind.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let url = format!("{}/chat/completions", p.proxy.base_url());
    let r = client
        .post(&url)
        .json(&body(&"x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.headers().get("connection").map(|v| v.to_str().unwrap()),
        Some("close")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large");
    for _ in 0..3 {
        let r = client.post(&url).json(&body("hello")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(p.upstream.request_count(), 3);
}
