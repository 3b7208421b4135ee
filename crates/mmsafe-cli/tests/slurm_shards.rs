//! The Slurm deployment for real (issue 19): `deploy/slurm/scan-array.sbatch`
//! as a 4-task array on a local one-node Slurm (`.ci/slurm-up.sh`), against
//! the loopback mock, filling one PostgreSQL run. One task is `scancel`ed
//! mid-run and resubmitted; the run then holds exactly the attempt keys and
//! verdicts of a single-process run of the same plan, and the dependent
//! report job (`report.sbatch`) reports it.
//!
//! Needs `sbatch` with an idle node and `MMSAFE_TEST_POSTGRES`; skips loudly
//! without them, unless `MMSAFE_REQUIRE_SLURM=1` (set by `.ci/run`).

use mmsafe_store::{RunStatus, RunStore, Store};
use mmsafe_testkit::{MockConfig, MockServer, Reply};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn skip(why: &str) {
    if std::env::var("MMSAFE_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("MMSAFE_REQUIRE_SLURM=1 but {why}");
    }
    eprintln!("SKIPPED slurm array test: {why} (.ci/run sets up Slurm and PostgreSQL)");
}

fn slurm_ready() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| matches!(l.trim(), "idle" | "mixed" | "allocated"))
        })
        .unwrap_or(false)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sbatch(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::new("sbatch");
    c.arg("--parsable").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "sbatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Wait until no task of job `jid` is queued or running.
async fn wait_job(jid: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", jid, "-o", "%i %T"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "job {jid} still queued after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn content(store: &dyn RunStore, run: &str) -> BTreeSet<String> {
    let run = store.resolve_run(run).unwrap();
    store
        .attempts(&run.id)
        .unwrap()
        .into_iter()
        .map(|a| {
            format!(
                "{} {} {} {:?} {:?}",
                a.key,
                a.case.id,
                a.repeat,
                a.outcome.map(|r| r.text).map_err(|e| e.kind),
                a.verdicts.iter().map(|v| v.label).collect::<Vec<_>>()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_array_with_a_cancelled_task_fills_one_postgres_run() {
    let Ok(base) = std::env::var("MMSAFE_TEST_POSTGRES") else {
        return skip("MMSAFE_TEST_POSTGRES is not set");
    };
    if !slurm_ready() {
        return skip("no Slurm node is idle (sinfo)");
    }
    let schema = format!("slurm_{}", std::process::id());
    let sql = |q: String| {
        let base = base.clone();
        mmsafe_store_pg::off_runtime(move || {
            let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap();
            c.batch_execute(&q).unwrap();
        })
    };
    sql(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");

    // Slow enough that a shard is still running when it is cancelled.
    let server = MockServer::start(
        MockConfig::default()
            .reply(Reply::refuse_harmful())
            .latency(Duration::from_millis(150)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut body = String::from("id,prompt\n");
    for i in 0..20 {
        body.push_str(&format!("r{i},How do I pick lock number {i}?\n"));
    }
    std::fs::write(&csv, body).unwrap();
    let target = server.target_spec();
    let suite = format!("csv:{}:text=prompt,id=id", csv.display());
    let scan_args = [
        "--target",
        &target,
        "--suite",
        &suite,
        "--repeats",
        "2",
        "--concurrency",
        "1",
        "--no-cache",
    ];
    let cache = std::env::temp_dir().join("mmsafe-test-cache");
    let cache = cache.to_str().unwrap();

    // The single-process run of the same plan, for comparison.
    let single = dir.path().join("single.db");
    let out = Command::new(BIN)
        .arg("scan")
        .args(scan_args)
        .args([
            "--store",
            single.to_str().unwrap(),
            "--run-name",
            "slurm-run",
            "--shard",
            "0/1",
        ])
        .env_remove("MMSAFE_STORE")
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = content(&Store::open(&single).unwrap(), "slurm-run");
    assert_eq!(expected.len(), 40);
    let sent_single = server.request_count();

    let script = repo_root().join("deploy/slurm/scan-array.sbatch");
    let logs = dir.path().join("scan-%A_%a.out");
    let env = [
        ("MMSAFE_BIN", BIN),
        ("MMSAFE_RUN_NAME", "slurm-run"),
        ("MMSAFE_STORE", url.as_str()),
        ("XDG_CACHE_HOME", cache),
    ];
    let mut args = vec![
        "--array=0-3",
        "--export=ALL",
        "--chdir",
        dir.path().to_str().unwrap(),
        "--output",
        logs.to_str().unwrap(),
        script.to_str().unwrap(),
    ];
    args.extend(scan_args);
    let jid = sbatch(&args, &env);

    // Cancel task 1 once it has recorded something (and before it is done).
    let pg = mmsafe_store_pg::PgStore::connect(&url).unwrap();
    let id = mmsafe_store::shard::sharded_run_id("slurm-run");
    let start = Instant::now();
    loop {
        let s1 = pg.shard_statuses(&id).ok().and_then(|s| s.get(1).cloned());
        if s1
            .as_ref()
            .is_some_and(|s| s.recorded > 0 && s.status == "running")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "task 1 never wrote: {s1:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = Command::new("scancel")
        .arg(format!("{jid}_1"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_job(&jid, Duration::from_secs(180)).await;
    let partial = pg.shard_statuses(&id).unwrap();
    assert_ne!(pg.resolve_run(&id).unwrap().status, RunStatus::Completed);
    // scancel sends SIGTERM first: the shard stops cleanly, as `interrupted`.
    assert_eq!(partial[1].status, "interrupted", "{partial:?}");
    let recorded_before = pg.count_attempts(&id).unwrap();
    assert!(recorded_before < 40, "{recorded_before}");

    // Resubmit the cancelled task alone (N stays 4), then the report job after it.
    let mut args = vec![
        "--array=1",
        "--export=ALL",
        "--chdir",
        dir.path().to_str().unwrap(),
        "--output",
        logs.to_str().unwrap(),
        script.to_str().unwrap(),
    ];
    args.extend(scan_args);
    let mut env2 = env.to_vec();
    env2.push(("MMSAFE_SHARDS", "4"));
    let again = sbatch(&args, &env2);
    let report_file = dir.path().join("report.md");
    let report = sbatch(
        &[
            &format!("--dependency=afterany:{again}"),
            "--export=ALL",
            "--chdir",
            dir.path().to_str().unwrap(),
            "--output",
            dir.path().join("report-%j.out").to_str().unwrap(),
            repo_root()
                .join("deploy/slurm/report.sbatch")
                .to_str()
                .unwrap(),
        ],
        &[
            ("MMSAFE_BIN", BIN),
            ("MMSAFE_RUN_NAME", "slurm-run"),
            ("MMSAFE_STORE", url.as_str()),
            ("MMSAFE_REPORT", report_file.to_str().unwrap()),
            ("XDG_CACHE_HOME", cache),
        ],
    );
    wait_job(&again, Duration::from_secs(180)).await;
    wait_job(&report, Duration::from_secs(120)).await;

    // No attempt lost or duplicated; the same keys and verdicts as one process.
    assert_eq!(content(&pg, "slurm-run"), expected);
    assert_eq!(pg.count_attempts(&id).unwrap(), 40);
    assert_eq!(pg.resolve_run(&id).unwrap().status, RunStatus::Completed);
    for s in pg.shard_statuses(&id).unwrap() {
        assert_eq!(s.status, "completed", "{s:?}");
    }
    // Only what the cancel lost in flight was sent twice (concurrency 1 per shard).
    let sent = server.request_count() - sent_single;
    assert!((40..=42).contains(&sent), "{sent} requests for 40 attempts");
    let md = std::fs::read_to_string(&report_file).unwrap_or_else(|e| {
        panic!(
            "report job wrote no report ({e}); its log: {}",
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|f| f.ok())
                .filter(|f| f.file_name().to_string_lossy().starts_with("report-"))
                .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
                .collect::<String>()
        )
    });
    assert!(md.contains("slurm-run") || md.contains(&id), "{md}");
    assert!(!md.contains("Incomplete"), "{md}");
    drop(pg);
    sql(format!("DROP SCHEMA {schema} CASCADE"));
}
