//! `mmsafe bench ui`: server time of the browser's heaviest pages on a
//! generated 100,000-attempt run — the attempts table under filters and the
//! run overview — read from each response's `Server-Timing`, and the
//! process's peak memory. The first request of each kind is timed apart
//! (`*_cold_ms`): it builds the run's in-memory index or computes the
//! overview's figures, which later requests reuse until the run changes.

use crate::cmd::bench::peak_rss_mib;
use crate::exit::{outln, Outcome};
use anyhow::Context as _;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attempts in the generated run.
    #[arg(long, default_value_t = 100_000)]
    attempts: usize,
    /// Timed requests per page kind (after one untimed warm-up each).
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Human labels on the run's random sample (the overview computes the calibrated figures).
    #[arg(long, default_value_t = 200)]
    labels: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    mmsafe_metrics::quantile(&v, 0.95).unwrap_or(f64::NAN)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(format!("mmsafe-bench-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = dir.join("bench-ui.db");
    let t0 = Instant::now();
    let run_id = mmsafe_ui::synthetic::generate(&store, args.attempts, args.labels)?;
    let generate_s = t0.elapsed().as_secs_f64();
    let recorded = mmsafe_store::Store::open(&store)?.count_attempts(&run_id)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let router = mmsafe_ui::router(mmsafe_ui::UiConfig {
            store: store.clone(),
            token: None,
            sample_size: 100,
            listen: addr,
        })?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(mmsafe_ui::serve(listener, router, async {
            let _ = stop_rx.await;
        }));
        let client = reqwest::Client::builder().no_proxy().build()?;
        let base = format!("http://{addr}/runs/{run_id}");
        let filtered = [
            "attempts?hazard=privacy&disagree=1",
            "attempts?judge=refusal&verdict=complied&attack=figstep",
            "attempts?labelled=no&defense=balanced&undecided=1",
            "attempts?q=placeholder+answer+number+4&hazard=hate",
            "attempts?errors=1",
            "attempts?disagree=1&page=20",
            "attempts",
        ];
        let time = |url: String| {
            let client = client.clone();
            async move {
                let r = client.get(&url).send().await?;
                anyhow::ensure!(r.status().is_success(), "{url}: HTTP {}", r.status());
                let timing = r
                    .headers()
                    .get("server-timing")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split("dur=").nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
                    .context("no Server-Timing header")?;
                let _ = r.bytes().await?;
                anyhow::Ok(timing)
            }
        };
        let mut attempts_ms = Vec::new();
        // The first request builds the run's in-memory index: timed apart.
        let mut attempts_cold_ms = 0.0;
        for f in filtered {
            let t = time(format!("{base}/{f}")).await?;
            if attempts_cold_ms == 0.0 {
                attempts_cold_ms = t;
            }
        }
        for i in 0..args.requests {
            attempts_ms.push(time(format!("{base}/{}", filtered[i % filtered.len()])).await?);
        }
        let mut overview_ms = Vec::new();
        // The first overview computes the figures; later ones reuse them
        // until attempts or labels change.
        let overview_cold_ms = time(base.clone()).await?;
        for _ in 0..args.requests {
            overview_ms.push(time(base.clone()).await?);
        }
        let _ = stop_tx.send(());
        let _ = server.await;
        anyhow::Ok((attempts_ms, overview_ms, attempts_cold_ms, overview_cold_ms))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (attempts_ms, overview_ms, attempts_cold_ms, overview_cold_ms) = result?;
    let rss = peak_rss_mib();
    let figures = serde_json::json!({
        "attempts": recorded,
        "labels": args.labels,
        "generate_s": generate_s,
        "requests_per_page": args.requests,
        "attempts_page_p95_ms": p95(attempts_ms.clone()),
        "attempts_page_max_ms": attempts_ms.iter().copied().fold(0.0, f64::max),
        "attempts_page_cold_ms": attempts_cold_ms,
        "overview_p95_ms": p95(overview_ms.clone()),
        "overview_cold_ms": overview_cold_ms,
        "overview_max_ms": overview_ms.iter().copied().fold(0.0, f64::max),
        "peak_rss_mib": rss,
        "targets": {"attempts_page_p95_ms": 100, "overview_p95_ms": 300, "peak_rss_mib": 200},
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&figures)?)?;
    } else {
        outln!(
            "{} attempts (generated in {:.1}s): attempts page p95 {:.1} ms (target ≤ 100), overview p95 {:.1} ms (target ≤ 300), peak RSS {} MiB (target < 200)",
            recorded,
            generate_s,
            p95(attempts_ms),
            p95(overview_ms),
            rss.map_or_else(|| "n/a".into(), |r| format!("{r:.0}"))
        )?;
    }
    Ok(Outcome::Ok)
}
