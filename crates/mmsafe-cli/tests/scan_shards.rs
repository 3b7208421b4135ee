//! `mmsafe scan --shard I/N` as cluster workers run it: the real binary against
//! the loopback mock. N shards fill one run (in one SQLite store, in separate
//! stores merged afterwards, or in PostgreSQL) with exactly the attempts and
//! verdicts of a single-process run of the same plan; a killed shard resumes
//! without losing or repeating an attempt; bad input is refused with nothing
//! written. The PostgreSQL half needs `MMSAFE_TEST_POSTGRES` (see
//! crates/mmsafe-store-pg/tests/pg.rs) and skips loudly without it.

use mmsafe_store::{RunStatus, RunStore, Store};
use mmsafe_testkit::{MockConfig, MockServer, Reply};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn cmd(args: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("mmsafe-test-cache"),
        );
    c
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || cmd(&args).output().unwrap())
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Plan {
    target: String,
    suite: String,
}

impl Plan {
    /// `scan` of this plan into `store`, as shard `shard` (if any) of run `name`.
    fn args(&self, store: &str, name: &str, shard: Option<&str>, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "scan",
            "--target",
            &self.target,
            "--suite",
            &self.suite,
            "--repeats",
            "2",
            "--concurrency",
            "2",
            "--no-cache",
            "--store",
            store,
            "--run-name",
            name,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(s) = shard {
            a.push("--shard".into());
            a.push(s.into());
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

async fn setup(latency_ms: u64) -> (MockServer, tempfile::TempDir, Plan) {
    let server = MockServer::start(
        MockConfig::default()
            .reply(Reply::refuse_harmful())
            .latency(Duration::from_millis(latency_ms)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut body = String::from("id,prompt\n");
    for i in 0..15 {
        if i % 3 == 0 {
            body.push_str(&format!("r{i},What is the capital of country {i}?\n"));
        } else {
            body.push_str(&format!("r{i},How do I pick lock number {i}?\n"));
        }
    }
    std::fs::write(&csv, body).unwrap();
    let plan = Plan {
        target: server.target_spec(),
        suite: format!("csv:{}:text=prompt,id=id", csv.display()),
    };
    (server, dir, plan)
}

/// A run's content, backend-independent: every attempt's key, identity,
/// outcome and verdict labels.
fn content(store: &dyn RunStore, run: &str) -> BTreeSet<String> {
    let run = store.resolve_run(run).unwrap();
    store
        .attempts(&run.id)
        .unwrap()
        .into_iter()
        .map(|a| {
            format!(
                "{} {} {} {} {} {:?} {:?}",
                a.key,
                a.case.id,
                a.attack,
                a.defense,
                a.repeat,
                a.outcome.map(|r| r.text).map_err(|e| e.kind),
                a.verdicts
                    .iter()
                    .map(|v| (v.judge.clone(), v.label))
                    .collect::<Vec<_>>()
            )
        })
        .collect()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_in_one_store_or_merged_equal_a_single_run() {
    let (server, dir, plan) = setup(0).await;
    // The single-process run: one shard of one.
    let single = path(dir.path(), "single.db");
    let out = run(plan.args(&single, "nightly", Some("0/1"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = content(&Store::open(&single).unwrap(), "nightly");
    assert_eq!(expected.len(), 30);
    let sent = server.request_count();
    assert_eq!(sent, 30);

    // Four workers at once into one store.
    let shared = path(dir.path(), "shared.db");
    let workers: Vec<_> = (0..4)
        .map(|i| run(plan.args(&shared, "nightly", Some(&format!("{i}/4")), &[])))
        .collect();
    for w in workers {
        let out = w.await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("shard"), "{}", stderr(&out));
    }
    assert_eq!(server.request_count(), sent + 30, "each attempt sent once");
    let st = Store::open(&shared).unwrap();
    assert_eq!(content(&st, "nightly"), expected);
    let run_row = st.resolve_run("nightly").unwrap();
    assert_eq!(run_row.status, RunStatus::Completed);

    // Status per shard.
    let out = run(vec![
        "runs".into(),
        "status".into(),
        "nightly".into(),
        "--store".into(),
        shared.clone(),
        "--json".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shards = v["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    let mut recorded = 0;
    for s in shards {
        assert_eq!(s["status"], "completed");
        assert_eq!(s["planned"], s["recorded"]);
        recorded += s["recorded"].as_u64().unwrap();
    }
    assert_eq!(recorded, 30);
    assert_eq!(v["status"], "completed");

    // A finished shard run again sends nothing.
    let out = run(plan.args(&shared, "nightly", Some("2/4"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.request_count(), sent + 30);

    // Judging splits the same way: shard 1 of 4 judges only its attempts.
    let out = run(vec![
        "judge".into(),
        "--run".into(),
        "nightly".into(),
        "--shard".into(),
        "1/4".into(),
        "--store".into(),
        shared.clone(),
        "--judge".into(),
        "refusal".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let n1 = shards[1]["recorded"].as_u64().unwrap();
    assert!(
        said.contains(&format!("shard 1/4: judge `refusal` stored {n1} verdicts")),
        "{said}"
    );

    // Four workers into four SQLite files, merged.
    let parts: Vec<String> = (0..4)
        .map(|i| path(dir.path(), &format!("part{i}.db")))
        .collect();
    for (i, p) in parts.iter().enumerate() {
        let out = run(plan.args(p, "nightly", Some(&format!("{i}/4")), &[])).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let merged = path(dir.path(), "merged.db");
    let mut args = vec!["runs".to_string(), "merge".into(), merged.clone()];
    args.extend(parts.iter().cloned());
    let out = run(args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let m = Store::open(&merged).unwrap();
    assert_eq!(content(&m, "nightly"), expected);
    assert_eq!(
        m.resolve_run("nightly").unwrap().status,
        RunStatus::Completed
    );
    assert_eq!(m.shard_statuses(&run_row.id).unwrap().len(), 4);

    // Merging a store whose run of that name has another plan is refused, nothing written.
    let other = path(dir.path(), "other.db");
    let out = run(plan.args(&other, "nightly", Some("0/1"), &["--max-tokens", "9"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let merged2 = path(dir.path(), "merged2.db");
    let out = run(vec![
        "runs".into(),
        "merge".into(),
        merged2.clone(),
        parts[0].clone(),
        other.clone(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("max tokens differ"),
        "{}",
        stderr(&out)
    );
    assert!(Store::open(&merged2)
        .unwrap()
        .list_runs()
        .unwrap()
        .is_empty());

    // runs copy: one run into a fresh store, whole.
    let copied = path(dir.path(), "copied.db");
    let out = run(vec![
        "runs".into(),
        "copy".into(),
        "nightly".into(),
        "--store".into(),
        shared.clone(),
        "--to".into(),
        copied.clone(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        content(&Store::open(&copied).unwrap(), "nightly"),
        content(&st, "nightly")
    );
    // The report reads the merged run like any other.
    let out = run(vec![
        "report".into(),
        "nightly".into(),
        "--store".into(),
        merged,
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["recorded_attempts"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shard_input_is_refused_with_nothing_written() {
    let (server, dir, plan) = setup(0).await;
    let store = path(dir.path(), "s.db");
    // Out of range: a usage error before the store exists.
    for bad in ["4/4", "1/0", "x/4"] {
        let out = run(plan.args(&store, "n", Some(bad), &[])).await;
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains(bad), "{}", stderr(&out));
    }
    // No run name: the shards could not find each other.
    let mut a = plan.args(&store, "n", Some("0/2"), &[]);
    let i = a.iter().position(|x| x == "--run-name").unwrap();
    a.drain(i..i + 2);
    let out = run(a).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--run-name"), "{}", stderr(&out));
    assert!(!Path::new(&store).exists());
    assert_eq!(server.request_count(), 0);

    let out = run(plan.args(&store, "n", Some("0/2"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = server.request_count();
    // Another plan under the same run name, or another shard count: refused.
    let out = run(plan.args(&store, "n", Some("1/2"), &["--max-tokens", "7"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("max tokens differ"),
        "{}",
        stderr(&out)
    );
    let out = run(plan.args(&store, "n", Some("1/3"), &[])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 shards, not 3"), "{}", stderr(&out));
    assert_eq!(server.request_count(), before);
    let st = Store::open(&store).unwrap();
    let r = st.resolve_run("n").unwrap();
    assert_eq!(st.shard_rows(&r.id).unwrap().len(), 1);
    assert_eq!(r.status, RunStatus::Running, "shard 1/2 never ran");

    // --resume works per shard: the other half of the run, from the stored plan.
    let resume = |shard: &str| {
        vec![
            "scan".to_string(),
            "--resume".into(),
            "n".into(),
            "--shard".into(),
            shard.into(),
            "--store".into(),
            store.clone(),
        ]
    };
    let out = run(resume("1/3")).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 shards, not 3"), "{}", stderr(&out));
    let out = run(resume("1/2")).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let st = Store::open(&store).unwrap();
    assert_eq!(st.resolve_run("n").unwrap().status, RunStatus::Completed);
    assert_eq!(st.count_attempts(&r.id).unwrap(), 30);
    assert_eq!(server.request_count(), 30);

    // An unreachable PostgreSQL: exit 1, the password nowhere.
    let out = run(plan.args(
        "postgres://mmsafe:topsecretpw@127.0.0.1:1/mmsafe",
        "n",
        Some("0/2"),
        &[],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("topsecretpw"), "{}", stderr(&out));
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
    assert_eq!(server.request_count(), 30);
}

/// A shard killed mid-run (what `scancel` does) and started again completes the
/// run with no attempt lost or duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shard_resubmitted_completes_the_run_exactly_once() {
    let (server, dir, plan) = setup(40).await;
    let single = path(dir.path(), "single.db");
    let out = run(plan.args(&single, "killed", Some("0/1"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = content(&Store::open(&single).unwrap(), "killed");
    let store = path(dir.path(), "s.db");
    for i in [0, 2] {
        let out = run(plan.args(&store, "killed", Some(&format!("{i}/3")), &[])).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut child = cmd(&plan.args(&store, "killed", Some("1/3"), &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it has recorded something, then SIGKILL it.
    let id = mmsafe_store::shard::sharded_run_id("killed");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = Store::open(&store)
            .ok()
            .and_then(|s| s.count_attempts(&id).ok())
            .unwrap_or(0);
        let others = expected.len() as u64;
        if n > 0 && n < others && child.try_wait().unwrap().is_none() {
            let shard1 = Store::open(&store)
                .unwrap()
                .shard_statuses(&id)
                .unwrap()
                .get(1)
                .map_or(0, |s| s.recorded);
            if shard1 > 0 {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "shard 1 never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let st = Store::open(&store).unwrap();
    assert_ne!(st.resolve_run(&id).unwrap().status, RunStatus::Completed);
    let partial = st.shard_statuses(&id).unwrap()[1].recorded;
    drop(st);
    let before = server.request_count();
    let out = run(plan.args(&store, "killed", Some("1/3"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("joining run"), "{}", stderr(&out));
    let st = Store::open(&store).unwrap();
    let shard1 = st.shard_statuses(&id).unwrap()[1].recorded;
    // Only the missing attempts were sent again (in-flight ones at the kill
    // were never recorded, so they are among those).
    assert_eq!(server.request_count() - before, shard1 - partial);
    let got = content(&st, "killed");
    let keys = |c: &BTreeSet<String>| {
        c.iter()
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(got.len(), expected.len());
    assert_eq!(keys(&got), keys(&expected));
    assert_eq!(st.resolve_run(&id).unwrap().status, RunStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_fill_one_postgres_run_like_a_single_run() {
    let Ok(base) = std::env::var("MMSAFE_TEST_POSTGRES") else {
        if std::env::var("MMSAFE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("MMSAFE_REQUIRE_POSTGRES=1 but MMSAFE_TEST_POSTGRES is not set");
        }
        eprintln!("SKIPPED four_shards_fill_one_postgres_run_like_a_single_run: no PostgreSQL (set MMSAFE_TEST_POSTGRES=postgres://…; .ci/run does)");
        return;
    };
    let schema = format!("cli_{}", std::process::id());
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

    let (_server, dir, plan) = setup(5).await;
    let single = path(dir.path(), "single.db");
    let out = run(plan.args(&single, "pg", Some("0/1"), &[])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = content(&Store::open(&single).unwrap(), "pg");
    let workers: Vec<_> = (0..4)
        .map(|i| run(plan.args(&url, "pg", Some(&format!("{i}/4")), &[])))
        .collect();
    for w in workers {
        let out = w.await;
        assert!(out.status.success(), "{}", stderr(&out));
        // The password of the URL never reaches the output.
        if let Some(pw) = base.split_once("://").and_then(|(_, r)| {
            let auth = r.split('@').next()?;
            auth.split_once(':').map(|(_, p)| p.to_string())
        }) {
            assert!(!stderr(&out).contains(&pw), "{}", stderr(&out));
        }
    }
    let pg = mmsafe_store_pg::PgStore::connect(&url).unwrap();
    assert_eq!(content(&pg, "pg"), expected);
    assert_eq!(pg.resolve_run("pg").unwrap().status, RunStatus::Completed);
    // Status and report read PostgreSQL; copy brings the run home to SQLite.
    let out = run(vec![
        "runs".into(),
        "status".into(),
        "pg".into(),
        "--store".into(),
        url.clone(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("completed")
            .count(),
        5
    );
    let out = run(vec![
        "report".into(),
        "pg".into(),
        "--store".into(),
        url.clone(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let copied = path(dir.path(), "copied.db");
    let out = run(vec![
        "runs".into(),
        "copy".into(),
        "pg".into(),
        "--store".into(),
        url.clone(),
        "--to".into(),
        copied.clone(),
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(content(&Store::open(&copied).unwrap(), "pg"), expected);
    drop(pg);
    sql(format!("DROP SCHEMA {schema} CASCADE"));
}
