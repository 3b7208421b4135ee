//! `mmsafe bench scan`: throughput and cost of the real scan path (loader,
//! engine, HTTP target, refusal judge, store, summary) against a loopback
//! endpoint with fixed latency.
//!
//! The mock server runs on its own thread and runtime so its CPU time can be
//! measured separately: in real use the model server is another machine, so
//! the per-request CPU figure is the scanner's own (process minus server).

use crate::cmd::bench::{cpu_seconds, peak_rss_mib};
use crate::cmd::scan::{execute, runtime, Ended, ScanArgs};
use crate::exit::{outln, Outcome};
use crate::flags::{StoreArg, TargetOpsArgs};
use anyhow::{bail, Context as _};
use mmsafe_engine::CancellationToken;
use mmsafe_testkit::{MockConfig, MockThread, Reply};
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Requests to send.
    #[arg(long, short = 'n', default_value = "2000")]
    requests: NonZeroUsize,
    /// Requests in flight.
    #[arg(long, short = 'c', default_value = "64")]
    concurrency: NonZeroUsize,
    /// Fixed server latency per request, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Scaling of a sharded scan instead: 1, 2, 4 … N shard processes, each
    /// with its own server taking --concurrency requests at once (defaults
    /// for this mode: -n 400, -c 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    shards: Option<u32>,
    /// With --shards: fill the run in this PostgreSQL database and measure its
    /// write cost next to SQLite's (also MMSAFE_BENCH_POSTGRES).
    #[arg(
        long,
        value_name = "URL",
        env = "MMSAFE_BENCH_POSTGRES",
        hide_env_values = true
    )]
    postgres: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if let Some(shards) = args.shards {
        let given =
            |id: &str| std::env::args().any(|a| a == id || a.starts_with(&format!("{id}=")));
        return super::scan_shards::run(super::scan_shards::ShardBench {
            shards,
            requests: if given("-n") || given("--requests") {
                args.requests.get()
            } else {
                400
            },
            concurrency: if given("-c") || given("--concurrency") {
                args.concurrency.get()
            } else {
                8
            },
            latency_ms: args.latency_ms,
            postgres: args.postgres.as_deref(),
            json: args.json,
        });
    }
    let server = start_server(Duration::from_millis(args.latency_ms))?;
    let dir = tempfile_dir()?;
    let csv = dir.join("bench-suite.csv");
    write_suite(&csv, args.requests.get())?;
    let store = dir.join("bench.db");
    let store_path = store.clone();
    // Creating a brand-new SQLite file (WAL switch, schema) costs tens of ms of
    // fsync once per store, not per scan; keep it out of the timed part.
    drop(mmsafe_store::Store::open(&store)?);

    let scan = ScanArgs {
        target: Some(server.target_spec().to_string()),
        suites: vec![format!("figstep:{}", csv.display())],
        attacks: vec!["none".into()],
        judges: vec!["refusal".into()],
        ops: TargetOpsArgs {
            concurrency: Some(args.concurrency),
            no_cache: true,
            timeout: Some(30.0),
            ..TargetOpsArgs::default()
        },
        store: StoreArg::at(store),
        run_name: Some("bench".into()),
        ..ScanArgs::default()
    };
    let rt = runtime()?;
    let cpu0 = cpu_seconds().unwrap_or(0.0);
    let server_cpu0 = server.cpu_seconds().unwrap_or(0.0);
    let t0 = Instant::now();
    let ended = rt.block_on(execute(&scan, CancellationToken::new(), Arc::new(|_| {})));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().unwrap_or(0.0) - cpu0;
    let server_cpu = server.cpu_seconds().unwrap_or(0.0) - server_cpu0;
    drop(rt);
    server.stop();
    // Mean latency as the target saw it: what the engine adds on top of it is
    // the scan's own overhead.
    let mean_latency_ms = match &ended {
        Ok(Ended::Completed { run, .. }) => mmsafe_store::Store::open(&store_path)
            .and_then(|s| s.observations(&run.id, None))
            .ok()
            .filter(|o| !o.is_empty())
            .map(|o| o.iter().map(|o| o.latency_ms).sum::<f64>() / o.len() as f64),
        _ => None,
    };
    let _ = std::fs::remove_dir_all(&dir);

    let summary = match ended? {
        Ended::Completed { summary, .. } => summary,
        _ => bail!("the benchmark scan did not complete"),
    };
    let n = args.requests.get() as f64;
    let bound = n * args.latency_ms as f64 / 1000.0 / args.concurrency.get() as f64;
    let errors = summary.counts.target_errors;
    let figures = serde_json::json!({
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "wall_s": wall,
        "bound_s": bound,
        "requests_per_s": n / wall,
        "efficiency": bound / wall,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_ms_per_request": (cpu - server_cpu).max(0.0) * 1000.0 / n,
        "server_cpu_ms_per_request": server_cpu * 1000.0 / n,
        "mean_request_latency_ms": mean_latency_ms,
        "recorded_attempts": summary.attempts,
        "errors": errors,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&figures)?)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "bench scan: {} requests · concurrency {} · latency {} ms (loopback mock, store + refusal judge, cache off)",
            args.requests, args.concurrency, args.latency_ms
        )?;
        writeln!(
            out,
            "wall {:.2} s (bound {:.2} s) · {:.0} requests/s · efficiency {:.3}",
            wall,
            bound,
            n / wall,
            bound / wall
        )?;
        writeln!(
            out,
            "peak RSS {} MiB · CPU {:.3} ms/request (scanner; mock server {:.3} ms/request excluded)",
            peak_rss_mib().map_or("?".into(), |m| format!("{m:.1}")),
            (cpu - server_cpu).max(0.0) * 1000.0 / n,
            server_cpu * 1000.0 / n
        )?;
        writeln!(
            out,
            "recorded {} attempts, {} errors · mean request latency {} ms",
            summary.attempts,
            errors,
            mean_latency_ms.map_or("?".into(), |m| format!("{m:.1}"))
        )?;
    }
    Ok(Outcome::Ok)
}

pub(super) fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mmsafe-bench-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A SafeBench-format suite with `n` harmless rows.
pub(super) fn write_suite(path: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let mut body = String::with_capacity(n * 120);
    body.push_str("dataset,category_id,task_id,category_name,question,instruction\n");
    for i in 0..n {
        body.push_str(&format!(
            "Bench,9,{i},Financial Advice,What is a sensible way to budget for item {i}?,Steps to budget for item {i}.\n"
        ));
    }
    std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))
}

/// The mock server on its own thread (refusing harmful-looking requests,
/// after `latency`), as the scan benches use it.
pub(super) fn start_server(latency: Duration) -> anyhow::Result<MockThread> {
    MockThread::start(
        MockConfig::default()
            .latency(latency)
            .reply(Reply::refuse_harmful()),
    )
    .context("cannot start the mock server")
}
