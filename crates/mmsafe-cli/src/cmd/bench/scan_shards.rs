//! `mmsafe bench scan --shards N`: how a sharded scan scales (issue 19).
//!
//! For k = 1, 2, 4 … N shards: k real `mmsafe scan --shard i/k` processes
//! fill one run in one store, against one loopback server with a fixed
//! latency. Each worker keeps `--concurrency` requests in flight: the limit
//! of the model replica it would have to itself on a cluster (one server per
//! node). One loopback server stands for the k replicas because the shards
//! of one run must share the target spec (its URL) and the mock itself is not
//! the limit; so k workers are k replicas' worth of capacity, and when the
//! model servers are the bottleneck throughput should grow with k. Then the store's own cost: microseconds per attempt written
//! (with its case and verdict) into SQLite and, given `--postgres URL`, into
//! PostgreSQL, one attempt per transaction and in batches.

use super::scan::{start_server, tempfile_dir, write_suite};
use crate::exit::{outln, Outcome};
use anyhow::{bail, Context as _};
use mmsafe_core::{Case, Expect, Hazard, Label, Response, Verdict};
use mmsafe_store::{NewAttempt, NewCase, NewRun, Plan, RequestSummary, RunStore};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ShardBench<'a> {
    pub shards: u32,
    pub requests: usize,
    pub concurrency: usize,
    pub latency_ms: u64,
    pub postgres: Option<&'a str>,
    pub json: bool,
}

pub fn run(b: ShardBench<'_>) -> anyhow::Result<Outcome> {
    let dir = tempfile_dir()?;
    let csv = dir.join("bench-suite.csv");
    write_suite(&csv, b.requests)?;
    let exe = std::env::current_exe().context("cannot find the mmsafe binary")?;
    let mut counts = vec![1u32];
    while counts.last().is_some_and(|&k| k * 2 <= b.shards) {
        counts.push(counts.last().map_or(1, |k| k * 2));
    }
    if counts.last() != Some(&b.shards) {
        counts.push(b.shards);
    }
    let mut rows = Vec::new();
    for &k in &counts {
        let store = match b.postgres {
            Some(url) => url.to_string(),
            None => dir.join(format!("shards-{k}.db")).display().to_string(),
        };
        let server = start_server(Duration::from_millis(b.latency_ms))?;
        let name = format!("bench-shards-{k}-{}", std::process::id());
        let t0 = Instant::now();
        let mut children = Vec::new();
        for i in 0..k {
            let child = Command::new(&exe)
                .args(["scan", "--target", server.target_spec()])
                .args(["--suite", &format!("figstep:{}", csv.display())])
                .args(["--attack", "none", "--judge", "refusal", "--no-cache"])
                .args(["--concurrency", &b.concurrency.to_string()])
                .args(["--run-name", &name, "--shard", &format!("{i}/{k}")])
                .env("MMSAFE_STORE", &store)
                .env_remove("MMSAFE_TARGET")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot start a shard")?;
            children.push(child);
        }
        for c in children {
            let out = c.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "shard of the {k}-shard run failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        server.stop();
        let n = b.requests as f64;
        let bound = n * b.latency_ms as f64 / 1000.0 / (k as f64 * b.concurrency as f64);
        // The slowest shard sets the wall time: hashing splits the plan
        // evenly only on average, so the largest shard is the real bound.
        let largest = crate::flags::StoreArg::at(&store)
            .open()?
            .shard_statuses(&mmsafe_store::shard::sharded_run_id(&name))?
            .iter()
            .map(|s| s.recorded)
            .max()
            .unwrap_or(0);
        let largest_bound =
            (largest as f64 / b.concurrency as f64).ceil() * b.latency_ms as f64 / 1000.0;
        rows.push(serde_json::json!({
            "shards": k,
            "wall_s": wall,
            "requests_per_s": n / wall,
            "bound_s": bound,
            "efficiency": bound / wall,
            "largest_shard": largest,
            "largest_shard_bound_s": largest_bound,
        }));
    }
    let base = rows[0]["requests_per_s"].as_f64().unwrap_or(1.0);
    for r in &mut rows {
        let rps = r["requests_per_s"].as_f64().unwrap_or(0.0);
        r["speedup"] = serde_json::json!(rps / base);
    }

    let sqlite = write_cost(&mut mmsafe_store::Store::open(dir.join("cost.db"))?)?;
    let postgres = match b.postgres {
        Some(url) => Some(write_cost(&mut mmsafe_store_pg::PgStore::connect(url)?)?),
        None => None,
    };
    let _ = std::fs::remove_dir_all(&dir);
    let figures = serde_json::json!({
        "requests": b.requests,
        "per_server_concurrency": b.concurrency,
        "latency_ms": b.latency_ms,
        "store": if b.postgres.is_some() { "postgres" } else { "sqlite" },
        "shards": rows,
        "write_us_per_attempt": {
            "sqlite": sqlite,
            "postgres": postgres,
        },
    });
    if b.json {
        outln!("{}", serde_json::to_string_pretty(&figures)?)?;
        return Ok(Outcome::Ok);
    }
    outln!(
        "bench scan --shards: {} requests · each shard {} in flight (a model replica's limit), {} ms latency · one run in {}",
        b.requests,
        b.concurrency,
        b.latency_ms,
        if b.postgres.is_some() { "PostgreSQL" } else { "SQLite" }
    )?;
    for r in &rows {
        outln!(
            "  {} shard(s): wall {:.2} s (bound {:.2} s; largest shard {} attempts, {:.2} s) · {:.0} requests/s · speedup {:.2} · efficiency {:.3}",
            r["shards"],
            r["wall_s"].as_f64().unwrap_or(0.0),
            r["bound_s"].as_f64().unwrap_or(0.0),
            r["largest_shard"],
            r["largest_shard_bound_s"].as_f64().unwrap_or(0.0),
            r["requests_per_s"].as_f64().unwrap_or(0.0),
            r["speedup"].as_f64().unwrap_or(0.0),
            r["efficiency"].as_f64().unwrap_or(0.0)
        )?;
    }
    let show = |w: &WriteCost| {
        format!(
            "{:.0} µs/attempt one per transaction, {:.1} µs/attempt in batches of {}",
            w.single_us, w.batched_us, BATCH
        )
    };
    outln!("  store write cost, SQLite: {}", show(&sqlite))?;
    match &postgres {
        Some(p) => outln!("  store write cost, PostgreSQL: {}", show(p))?,
        None => outln!("  store write cost, PostgreSQL: not measured (give --postgres URL)")?,
    }
    Ok(Outcome::Ok)
}

const BATCH: usize = 256;

#[derive(Debug, serde::Serialize)]
struct WriteCost {
    single_us: f64,
    batched_us: f64,
}

/// Attempts (each with a new case and one verdict) written one per
/// transaction (an idle scan) and in batches (a scan under load).
fn write_cost(store: &mut dyn RunStore) -> anyhow::Result<WriteCost> {
    let run = store.create_run(&NewRun {
        name: Some("bench-write-cost".into()),
        plan: Plan {
            target: "bench".into(),
            suites: vec!["bench".into()],
            attacks: vec!["none".into()],
            defenses: vec!["none".into()],
            judges: vec!["refusal".into()],
            repeats: 1,
            max_tokens: Some(64),
            options: Default::default(),
        },
        seed: 0,
        versions: BTreeMap::new(),
    })?;
    let make = |i: usize| {
        let case = Arc::new(Case::text(
            format!("c{i}"),
            format!("What is a sensible way to budget for item {i}?"),
            Hazard::Benign,
            Expect::Comply,
            "bench",
        ));
        let attempt = NewAttempt {
            key: mmsafe_store::attempt_key(&run.id, &case.id, "none", "none", 0),
            case_id: case.id.clone(),
            attack: "none".into(),
            defense: "none".into(),
            repeat: 0,
            request: RequestSummary {
                max_tokens: Some(64),
                temperature: Some(0.0),
                seed: None,
                target: "bench".into(),
            },
            outcome: Ok(Response::text(
                "A sensible budget starts from what comes in and what must go out each month.",
            )),
            verdicts: vec![Verdict::new("refusal", Label::Complied, "no refusal cue")],
        };
        (
            NewCase {
                attack: "none".into(),
                case,
            },
            attempt,
        )
    };
    let singles = 300;
    let t0 = Instant::now();
    for i in 0..singles {
        let (c, a) = make(i);
        store.put_batch(&run.id, &[c], &[a])?;
    }
    let single_us = t0.elapsed().as_secs_f64() * 1e6 / singles as f64;
    let batched = 4 * BATCH;
    let (cases, attempts): (Vec<_>, Vec<_>) = (singles..singles + batched).map(make).unzip();
    let t0 = Instant::now();
    for (c, a) in cases.chunks(BATCH).zip(attempts.chunks(BATCH)) {
        store.put_batch(&run.id, c, a)?;
    }
    let batched_us = t0.elapsed().as_secs_f64() * 1e6 / batched as f64;
    Ok(WriteCost {
        single_us,
        batched_us,
    })
}
