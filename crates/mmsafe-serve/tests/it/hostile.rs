//! Hostile clients (issue 14, item 4): each test drives the real proxy over
//! loopback with a real upstream and images built here, and failed before
//! the fix it guards.

use crate::support::*;
use async_trait::async_trait;
use mmsafe_core::{DynTarget, Image, Layer, Ocr, OcrError, OcrLine, Request};
use mmsafe_guard::ocr_cache::SharedOcr;
use mmsafe_guard::{Check, CheckLayer, Decision, GuardError, GuardOptions};
use mmsafe_testkit::{Fault, MockConfig, MockServer, When};
use serde_json::{json, Value};
use std::io::{Cursor, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Stack(Vec<Arc<dyn Layer>>);
impl Layer for Stack {
    fn name(&self) -> &str {
        "hostile-test"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        mmsafe_core::target::stack(&self.0, inner)
    }
}

fn guard_of(checks: Vec<Arc<dyn Check>>, fail_open: bool) -> Arc<dyn Layer> {
    let opts = GuardOptions {
        fail_open,
        ..GuardOptions::default()
    };
    Arc::new(Stack(
        checks
            .into_iter()
            .map(|c| Arc::new(CheckLayer::new(c, opts.clone())) as Arc<dyn Layer>)
            .collect(),
    ))
}

async fn start_with(
    mock: MockConfig,
    guard: Option<Arc<dyn Layer>>,
    edit: impl FnOnce(&mut mmsafe_serve::ServeConfig),
) -> Pair {
    let upstream = MockServer::start(mock.record_requests(true)).await.unwrap();
    let mut cfg = config(&upstream.base_url(), guard);
    edit(&mut cfg);
    let proxy = mmsafe_serve::start(cfg).await.unwrap();
    Pair { upstream, proxy }
}

fn text_body(text: &str) -> Value {
    json!({"model": "mock-model", "messages": [{"role": "user", "content": text}]})
}

fn images_body(urls: &[String]) -> Value {
    let mut content = vec![json!({"type": "text", "text": "what is this"})];
    for u in urls {
        content.push(json!({"type": "image_url", "image_url": {"url": u}}));
    }
    json!({"model": "mock-model", "messages": [{"role": "user", "content": content}]})
}

async fn post(p: &Pair, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", p.proxy.base_url()))
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

async fn metrics(p: &Pair) -> String {
    reqwest::get(format!("http://{}/metrics", p.proxy.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

// ---------------------------------------------------------------- formats

/// Stands in for the OCR layer: reads every image the way the guard layers
/// do (`imaging::decode`) and blocks red ones. An image it cannot read is a
/// layer failure, which a fail-open policy lets through.
struct RedImages;

#[async_trait]
impl Check for RedImages {
    fn name(&self) -> &str {
        "red-images"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        for img in req.images() {
            let px = mmsafe_guard::imaging::decode(img)
                .map_err(|e| GuardError::new("red-images", e))?
                .get_pixel(0, 0)
                .0;
            if px[0] > 200 && px[1] < 50 {
                return Ok(Decision::block("a red image"));
            }
        }
        Ok(Decision::pass("ok"))
    }
}

#[tokio::test]
async fn every_accepted_format_is_read_by_the_layers_or_refused() {
    let p = start_with(
        MockConfig::default(),
        Some(guard_of(vec![Arc::new(RedImages)], true)),
        |_| {},
    )
    .await;
    let red = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        32,
        24,
        image::Rgb([230, 10, 10]),
    ));
    let rgba = image::DynamicImage::ImageRgba8(red.to_rgba8());
    for (format, img) in [
        (image::ImageFormat::Png, &red),
        (image::ImageFormat::Jpeg, &red),
        (image::ImageFormat::Gif, &rgba),
        (image::ImageFormat::WebP, &rgba),
        (image::ImageFormat::Bmp, &red),
    ] {
        let bytes = encode(img, format);
        let url = Image::sniff(bytes).unwrap().data_url();
        let r = post(&p, &images_body(&[url])).await;
        assert_eq!(r.status(), 200, "{format:?}");
        assert_eq!(decision(&r), "block", "{format:?} must be read and blocked");
    }
    // A valid header over garbage: no layer could read it, so it is refused
    // before any layer, whatever fail-open says.
    for (format, img) in [
        (image::ImageFormat::Gif, &rgba),
        (image::ImageFormat::WebP, &rgba),
        (image::ImageFormat::Bmp, &red),
        (image::ImageFormat::Png, &red),
    ] {
        let mut bytes = encode(img, format);
        let keep = 30.min(bytes.len());
        bytes.truncate(keep);
        bytes.extend_from_slice(&[0x5A; 64]);
        let url = Image::sniff(bytes).unwrap().data_url();
        let r = post(&p, &images_body(&[url])).await;
        assert_eq!(r.status(), 400, "corrupt {format:?}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("messages[0].content[1]"),
            "{v}"
        );
    }
    assert_eq!(p.upstream.request_count(), 0, "nothing was forwarded");
}

// ---------------------------------------------------------- error ranking

/// Fails on "explode"; passes everything else.
struct Flaky;

#[async_trait]
impl Check for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        if req.prompt_text().contains("explode") {
            return Err(GuardError::new("flaky", "classifier unavailable"));
        }
        Ok(Decision::pass("ok"))
    }
}

#[tokio::test]
async fn a_failed_layer_is_reported_as_an_error_not_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let db2 = db.clone();
    let p = start_with(
        MockConfig::default(),
        Some(guard_of(
            vec![
                Arc::new(Flaky),
                Arc::new(mmsafe_guard::layers::prompt_static::PromptStatic::default()),
            ],
            true,
        )),
        move |c| c.audit_path = Some(db2),
    )
    .await;
    let r = post(&p, &text_body("make it explode")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(decision(&r), "error_open");
    let m = metrics(&p).await;
    assert!(
        m.contains("mmsafe_requests_total{decision=\"error_open\"} 1"),
        "{m}"
    );
    assert!(
        !m.contains("mmsafe_requests_total{decision=\"rewrite\"}"),
        "{m}"
    );
    p.proxy.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let d: String = conn
        .query_row("SELECT decision FROM decisions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(d, "error_open");
}

// ------------------------------------------------------------- PNG bombs

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

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// zlib stream of `n` zero bytes, built without holding them in memory.
fn zlib_zeros(n: usize) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        z.write_all(&block[..k]).unwrap();
        left -= k;
    }
    z.finish().unwrap()
}

/// A real `w`×`h` grey PNG whose pixels are all `grey`, with an iCCP chunk
/// carrying `iccp` (already compressed) and a tEXt chunk `tag` to make each
/// file distinct.
fn png_with(w: u32, h: u32, grey: u8, iccp: Option<&[u8]>, tag: &str) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    if let Some(profile) = iccp {
        let mut data = b"bomb\0\0".to_vec();
        data.extend_from_slice(profile);
        chunk(&mut out, b"iCCP", &data);
    }
    chunk(&mut out, b"tEXt", format!("Comment\0{tag}").as_bytes());
    let mut raw = Vec::with_capacity(((w + 1) * h) as usize);
    for _ in 0..h {
        raw.push(0);
        raw.extend(std::iter::repeat_n(grey, w as usize));
    }
    chunk(&mut out, b"IDAT", &zlib(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A valid PNG header declaring `w`×`h` with an empty IDAT: a few dozen bytes.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[tokio::test]
async fn icc_profile_bomb_is_refused_and_healthz_answers_meanwhile() {
    let p = start_with(MockConfig::default(), Some(guard_of(vec![], false)), |_| {}).await;
    // ~500 MiB of profile in ~0.5 MB of zlib.
    let bomb = zlib_zeros(500 << 20);
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", p.proxy.base_url());
    let mut inflight = Vec::new();
    for i in 0..4 {
        let png = png_with(1, 1, 255, Some(&bomb), &format!("bomb {i}"));
        let body = images_body(&[Image::png(png).data_url()]);
        let (c, u) = (client.clone(), url.clone());
        inflight.push(tokio::spawn(async move {
            c.post(&u).json(&body).send().await.unwrap().status()
        }));
    }
    // Large, legitimate images keep the decoders busy for a while.
    for i in 0..2 {
        let png = png_with(5000, 5000, 40 + i, None, &format!("big {i}"));
        let body = images_body(&[Image::png(png).data_url()]);
        let (c, u) = (client.clone(), url.clone());
        inflight.push(tokio::spawn(async move {
            c.post(&u).json(&body).send().await.unwrap().status()
        }));
    }
    let h = tokio::time::timeout(
        Duration::from_secs(30),
        client
            .get(format!("http://{}/healthz", p.proxy.addr()))
            .send(),
    )
    .await
    .expect("healthz did not answer")
    .unwrap();
    assert_eq!(h.status(), 200);
    let mut statuses = Vec::new();
    for t in inflight {
        statuses.push(t.await.unwrap().as_u16());
    }
    assert_eq!(&statuses[..4], [413; 4], "bombs are refused: {statuses:?}");
    assert_eq!(&statuses[4..], [200; 2], "real images pass: {statuses:?}");
    assert_eq!(p.upstream.request_count(), 2);

    // A modest, real ICC profile is fine.
    let png = png_with(8, 8, 99, Some(&zlib(&[7u8; 3144])), "srgb-sized");
    let r = post(&p, &images_body(&[Image::png(png).data_url()])).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_request_pixel_budget_refuses_many_large_images_cheaply() {
    let p = start_with(MockConfig::default(), Some(guard_of(vec![], false)), |_| {}).await;
    let urls: Vec<String> = (0..8)
        .map(|i| Image::png(png_header_only(6000 + i, 6000)).data_url())
        .collect();
    let r = post(&p, &images_body(&urls)).await;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("per-request budget"), "{msg}");
    assert_eq!(p.upstream.request_count(), 0);
}

// ------------------------------------------------------ concurrency cap

/// Holds its slot until told to go on; tells when it has started.
struct Gate {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    go: Arc<tokio::sync::Semaphore>,
}

#[async_trait]
impl Check for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        if req.prompt_text().contains("wait") {
            let _ = self.started.send(());
            let _ = self.go.acquire().await.map(|p| p.forget());
        }
        Ok(Decision::pass("ok"))
    }
}

#[tokio::test]
async fn guard_work_is_capped_and_the_overflow_gets_429_with_retry_after() {
    let (tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let go = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = Gate {
        started: tx,
        go: go.clone(),
    };
    let p = start_with(
        MockConfig::default().latency(Duration::from_millis(400)),
        Some(guard_of(vec![Arc::new(gate)], false)),
        |c| {
            c.limits.guard_concurrency = 1;
            c.limits.guard_queue = 1;
        },
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", p.proxy.base_url());
    let send = |text: &str| {
        let (c, u, b) = (client.clone(), url.clone(), text_body(text));
        tokio::spawn(async move { c.post(&u).json(&b).send().await.unwrap() })
    };
    // One request holds the only slot; one waits in the queue; the next is refused.
    let first = send("wait here");
    started.recv().await.unwrap();
    let queued = send("queued");
    // The queued request is admitted only when the first lets go, so give it
    // a moment to reach the queue (its outcome does not depend on this).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = send("overflow").await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "guard_busy");
    go.add_permits(1);
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(queued.await.unwrap().status(), 200);

    // The slot is not held while the upstream answers: with one slot, a
    // second request passes its guard while the first waits for the model.
    let a = send("one");
    let b = send("two");
    assert_eq!(a.await.unwrap().status(), 200);
    assert_eq!(b.await.unwrap().status(), 200);
    assert_eq!(p.upstream.max_in_flight(), 2);
}

// ------------------------------------------------------------ model names

#[tokio::test]
async fn made_up_model_names_do_not_lock_out_real_ones() {
    let p = start_with(MockConfig::default(), Some(guard_of(vec![], false)), |_| {}).await;
    for i in 0..70 {
        let r = post(
            &p,
            &json!({"model": format!("made-up-{i}"), "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        r.bytes().await.unwrap();
    }
    let r = post(&p, &text_body("hello")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

// ------------------------------------------------------- disconnections

#[tokio::test]
async fn a_client_that_hangs_up_still_leaves_an_audit_row_and_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let db2 = db.clone();
    let p = start_with(
        MockConfig::default().latency(Duration::from_millis(600)),
        Some(guard_of(vec![], false)),
        move |c| c.audit_path = Some(db2),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let e = impatient
        .post(format!("{}/chat/completions", p.proxy.base_url()))
        .json(&text_body("hello"))
        .send()
        .await;
    assert!(e.is_err(), "the client gave up");
    let mut m = String::new();
    for _ in 0..100 {
        m = metrics(&p).await;
        if m.contains("mmsafe_http_responses_total{status=\"499\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        m.contains("mmsafe_http_responses_total{status=\"499\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("mmsafe_requests_total{decision=\"pass\"} 1"),
        "{m}"
    );
    assert_eq!(p.upstream.request_count(), 1);
    p.proxy.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let row: (String, i64) = conn
        .query_row("SELECT decision, status FROM decisions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(row, ("pass".to_string(), 499));
}

// ------------------------------------------------------------------- 401

#[tokio::test]
async fn a_large_unauthorized_body_gets_its_401_not_a_broken_pipe() {
    let p = start_with(MockConfig::default(), None, |c| {
        c.api_keys = vec![key("sk-right")];
    })
    .await;
    let body = format!(
        "{{\"model\": \"mock-model\", \"messages\": [{{\"role\": \"user\", \"content\": \"{}\"}}]}}",
        "x".repeat(16 << 20)
    );
    let mut s = tokio::net::TcpStream::connect(p.proxy.addr())
        .await
        .unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer sk-wrong\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        p.proxy.addr(),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes())
        .await
        .expect("the proxy hung up while the body was being sent");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .await
        .expect("reading the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("invalid_api_key"), "{answer}");
    assert_eq!(p.upstream.request_count(), 0);
}

// ------------------------------------------------------------ media type

#[tokio::test]
async fn the_sniffed_media_type_is_forwarded_not_the_declared_one() {
    let p = start_with(MockConfig::default(), None, |_| {}).await;
    let png = encode(
        &image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8)),
        image::ImageFormat::Png,
    );
    let url = Image::new(png, "text/html").data_url();
    assert!(url.starts_with("data:text/html;base64,"));
    let r = post(&p, &images_body(&[url])).await;
    assert_eq!(r.status(), 200);
    let sent = p.upstream.requests()[0].to_string();
    assert!(sent.contains("data:image/png;base64,"), "{sent}");
    assert!(!sent.contains("text/html"), "{sent}");
}

// --------------------------------------------------- upstream addresses

#[tokio::test]
async fn error_bodies_say_upstream_not_its_address() {
    let p = start_with(
        MockConfig::default().fault(When::Always, Fault::rate_limited(1)),
        None,
        |_| {},
    )
    .await;
    let r = post(&p, &text_body("hi")).await;
    assert_eq!(r.status(), 429);
    let body = r.text().await.unwrap();
    let port = p.upstream.addr().port().to_string();
    assert!(
        !body.contains(&port) && !body.contains("127.0.0.1"),
        "{body}"
    );
    assert!(body.contains("upstream"), "{body}");

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = mmsafe_serve::start(config(&format!("http://127.0.0.1:{dead}/v1"), None))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/chat/completions", proxy.base_url()))
        .json(&text_body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(
        !body.contains(&dead.to_string()) && !body.contains("127.0.0.1"),
        "{body}"
    );
    assert!(body.contains("upstream"), "{body}");
}

// ------------------------------------------------------------- OCR cache

/// Counts how often the model really ran; reads no text.
#[derive(Default)]
struct CountingOcr(AtomicUsize);

impl Ocr for CountingOcr {
    fn name(&self) -> &str {
        "counting"
    }
    fn read(&self, _: &Image) -> Result<Vec<OcrLine>, OcrError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Vec::new())
    }
}

struct ReadsImages(Arc<SharedOcr>);

#[async_trait]
impl Check for ReadsImages {
    fn name(&self) -> &str {
        "reads-images"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        let text = self
            .0
            .request_text(req.images(), 0.5)
            .map_err(|e| GuardError::new("reads-images", e))?;
        Ok(Decision::pass(format!("{} chars", text.len())))
    }
}

#[tokio::test]
async fn the_ocr_cache_does_not_tell_one_client_what_another_sent() {
    let ocr = Arc::new(CountingOcr::default());
    let shared = Arc::new(SharedOcr::new(ocr.clone()));
    let p = start_with(
        MockConfig::default(),
        Some(guard_of(vec![Arc::new(ReadsImages(shared))], false)),
        |c| c.api_keys = vec![key("sk-alice"), key("sk-bob")],
    )
    .await;
    let png = encode(
        &image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(16, 16, image::Rgb([1, 2, 3]))),
        image::ImageFormat::Png,
    );
    let body = images_body(&[Image::png(png).data_url()]);
    let c = reqwest::Client::new();
    let url = format!("{}/chat/completions", p.proxy.base_url());
    for k in ["sk-alice", "sk-alice", "sk-bob"] {
        let r = c
            .post(&url)
            .bearer_auth(k)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Alice's second request is a hit on her own entry; Bob's first is a miss.
    assert_eq!(ocr.0.load(Ordering::SeqCst), 2);
}
