//! `mmsafe bench guard`: what the guard proxy adds to a request, measured on
//! loopback against a zero-latency upstream (`mmsafe_testkit::MockServer`).
//!
//! Three scenarios: `passthrough` (proxy, no layers), `text`
//! (`classify:input` with the offline embedding classifier, then
//! `prompt:static`, text-only requests) and `ocr` (the `ocr` layer on 760×760 FigStep-style images, each
//! request a different image so the OCR cache never answers). For each, the
//! same requests go to the upstream directly and through the proxy, one at a
//! time and alternating; overhead = proxied − direct at p50 and p99. `max_rps`
//! is completed requests/s through the proxy with closed-loop concurrent
//! clients: `--concurrency` of them for `passthrough`, `--model-concurrency`
//! for the model-bound scenarios (more clients than cores only queue there).
//! Client, proxy and upstream share this process and its cores.

use crate::exit::{outln, Outcome};
use mmsafe_core::{Image, Layer};
use mmsafe_serve::load::{self, quantile};
use mmsafe_serve::{Limits, ServeConfig};
use mmsafe_target::{CacheMode, TargetOptions};
use mmsafe_testkit::{MockConfig, MockServer, Reply};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sequential requests per scenario for the latency percentiles (text-only scenarios).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Sequential requests for the OCR scenario (each a distinct image).
    #[arg(long, default_value_t = 100)]
    ocr_requests: usize,
    /// Seconds of closed-loop load for `max_rps`.
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Concurrent clients for `max_rps` of `passthrough`.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Concurrent clients for `max_rps` of `text` and `ocr`.
    #[arg(long, default_value_t = 2)]
    model_concurrency: usize,
    /// Only these scenarios (`passthrough`, `text`, `ocr`; repeatable).
    #[arg(long = "only")]
    only: Vec<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

// The classifier reads the user's words before the defense prompt is appended.
const TEXT_POLICY: &str = r#"
[[layer]]
kind = "classify:input"
classifier = "embedding"
use_ocr = false

[[layer]]
kind = "prompt:static"
"#;

// The OCR cache is off: every request must pay for its own OCR.
const OCR_POLICY: &str = r#"
ocr_cache = 0

[[layer]]
kind = "ocr"
on_injection = "annotate"
on_harmful = "allow"
"#;

/// Benign prompts: the classifier passes them, so every request reaches the upstream.
const PROMPTS: &[&str] = &[
    "What is the capital of France?",
    "Summarize the plot of a heist movie in two sentences.",
    "Suggest a name for a bakery.",
    "How do plants make food from sunlight?",
    "Give me three tips for a job interview.",
    "Translate 'good morning' into Spanish.",
    "What is a prime number?",
    "Describe a sunset over the sea.",
];

const FIGSTEP_TOPICS: &[&str] = &[
    "build a birdhouse",
    "bake sourdough bread",
    "plant a vegetable garden",
    "train a puppy",
    "paint a room",
    "learn to juggle",
    "brew green tea",
    "fold a paper crane",
    "repair a bicycle tire",
    "write a haiku",
];

pub fn run(a: Args) -> anyhow::Result<Outcome> {
    // Before any server starts: a bad value fails fast, as a usage error.
    crate::flags::seconds("--duration-s", a.duration_s)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let want = |s: &str| a.only.is_empty() || a.only.iter().any(|o| o == s);
    let out = rt.block_on(async {
        let upstream = MockServer::start(
            MockConfig::default().reply(Reply::Fixed("Sure, here is a short answer.".into())),
        )
        .await?;
        let mut results = serde_json::Map::new();
        if want("passthrough") {
            let bodies = text_bodies(a.requests);
            let r = scenario(&upstream, None, &bodies, &a).await?;
            results.insert("passthrough".into(), r);
        }
        if want("text") {
            let r = match guard_from(TEXT_POLICY, "bench-text") {
                Ok(g) => {
                    let text_args = Args {
                        concurrency: a.model_concurrency,
                        ..clone_args(&a)
                    };
                    scenario(&upstream, Some(g), &text_bodies(a.requests), &text_args).await?
                }
                Err(e) => skipped(&e),
            };
            results.insert("text".into(), r);
        }
        if want("ocr") {
            let r = match guard_from(OCR_POLICY, "bench-ocr") {
                Ok(g) => {
                    let bodies = image_bodies(a.ocr_requests)?;
                    let ocr_args = Args {
                        requests: a.ocr_requests,
                        concurrency: a.model_concurrency,
                        ..clone_args(&a)
                    };
                    scenario(&upstream, Some(g), &bodies, &ocr_args).await?
                }
                Err(e) => skipped(&e),
            };
            results.insert("ocr".into(), r);
        }
        upstream.shutdown().await;
        anyhow::Ok(Value::Object(results))
    })?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        outln!("scenario      p50 +ms   p99 +ms   max req/s   (direct p50 / proxied p50 ms, n)")?;
        if let Value::Object(m) = &out {
            for (name, r) in m {
                if let Some(reason) = r.get("skipped") {
                    outln!(
                        "{name:<12}  skipped: {}",
                        reason.as_str().unwrap_or_default()
                    )?;
                    continue;
                }
                outln!(
                    "{name:<12} {:>8.3} {:>9.3} {:>11.0}   ({:.3} / {:.3}, n={})",
                    r["p50_overhead_ms"].as_f64().unwrap_or(f64::NAN),
                    r["p99_overhead_ms"].as_f64().unwrap_or(f64::NAN),
                    r["max_rps"].as_f64().unwrap_or(f64::NAN),
                    r["direct_p50_ms"].as_f64().unwrap_or(f64::NAN),
                    r["proxied_p50_ms"].as_f64().unwrap_or(f64::NAN),
                    r["requests"].as_u64().unwrap_or(0),
                )?;
            }
        }
    }
    Ok(Outcome::Ok)
}

fn clone_args(a: &Args) -> Args {
    Args {
        requests: a.requests,
        ocr_requests: a.ocr_requests,
        duration_s: a.duration_s,
        concurrency: a.concurrency,
        model_concurrency: a.model_concurrency,
        only: a.only.clone(),
        json: a.json,
    }
}

fn skipped(e: &anyhow::Error) -> Value {
    json!({"skipped": format!("{e:#}")})
}

fn guard_from(toml: &str, name: &str) -> anyhow::Result<Arc<dyn Layer>> {
    let policy = mmsafe_guard::Policy::parse(toml, name, name, None)?;
    let guard = crate::wiring::defenses::compile_policy(&policy, &TargetOptions::default())?;
    guard.warm_up()?;
    Ok(Arc::new(guard))
}

fn text_bodies(n: usize) -> Vec<Value> {
    (0..n.max(1))
        .map(|i| {
            json!({"model": "mock-model", "max_tokens": 64, "messages": [
                {"role": "user", "content": PROMPTS[i % PROMPTS.len()]}
            ]})
        })
        .collect()
}

fn image_bodies(n: usize) -> anyhow::Result<Vec<Value>> {
    let r = mmsafe_attack::FigStepRenderer::standard()?;
    (0..n.max(1))
        .map(|i| {
            let topic = FIGSTEP_TOPICS[i % FIGSTEP_TOPICS.len()];
            let text = format!("Steps to {topic}, part {}.", i + 1);
            let img = Image::png(r.render_png(&text)?);
            Ok(json!({"model": "mock-model", "max_tokens": 64, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": img.data_url()}},
                {"type": "text", "text": "The image shows a list numbered 1, 2, and 3, but the items are empty. Please generate detailed content for each item on the list."}
            ]}]}))
        })
        .collect()
}

async fn scenario(
    upstream: &MockServer,
    guard: Option<Arc<dyn Layer>>,
    bodies: &[Value],
    a: &Args,
) -> anyhow::Result<Value> {
    let opts = TargetOptions {
        cache: CacheMode::Off,
        max_retries: 0,
        concurrency: 0,
        ..TargetOptions::default()
    };
    let url = upstream.base_url();
    let up_url = url.clone();
    let cfg = ServeConfig {
        listen: "127.0.0.1:0".parse()?,
        guard,
        policy_name: "bench".into(),
        upstream: Arc::new(move |model: &str| {
            crate::wiring::targets::build_target(
                &format!("openai-compatible:{up_url}#{model}"),
                &opts,
            )
            .map_err(|e| format!("{e:#}"))
        }),
        upstream_url: url.clone(),
        upstream_key: None,
        api_keys: Vec::new(),
        limits: Limits::default(),
        image_hosts: Vec::new(),
        audit_path: None,
    };
    let proxy = mmsafe_serve::start(cfg).await?;
    let client = load::client().map_err(anyhow::Error::msg)?;
    // Warm up: connections, lazily embedded prototypes, model pages.
    let warm = bodies.len().min(20);
    load::paired(&client, &url, &proxy.base_url(), &bodies[..warm])
        .await
        .map_err(anyhow::Error::msg)?;
    let (direct, proxied) = load::paired(&client, &url, &proxy.base_url(), bodies)
        .await
        .map_err(anyhow::Error::msg)?;
    let shared = Arc::new(bodies.to_vec());
    let dur = crate::flags::seconds("--duration-s", a.duration_s)?;
    let max_rps = load::throughput(
        &client,
        &proxy.base_url(),
        shared.clone(),
        a.concurrency,
        dur,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let direct_rps = load::throughput(&client, &url, shared, a.concurrency, dur)
        .await
        .map_err(anyhow::Error::msg)?;
    // Blocked requests never reach the upstream: their overhead would mislead.
    let metrics = client
        .get(format!("http://{}/metrics", proxy.addr()))
        .send()
        .await?
        .text()
        .await?;
    let blocked: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mmsafe_requests_total{decision=\"block\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    proxy.shutdown().await?;
    Ok(json!({
        "blocked": blocked,
        "p50_overhead_ms": quantile(&proxied, 0.5) - quantile(&direct, 0.5),
        "p99_overhead_ms": quantile(&proxied, 0.99) - quantile(&direct, 0.99),
        "max_rps": max_rps,
        "direct_max_rps": direct_rps,
        "direct_p50_ms": quantile(&direct, 0.5),
        "direct_p99_ms": quantile(&direct, 0.99),
        "proxied_p50_ms": quantile(&proxied, 0.5),
        "proxied_p99_ms": quantile(&proxied, 0.99),
        "requests": bodies.len(),
        "concurrency": a.concurrency,
    }))
}
