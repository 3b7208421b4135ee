//! `mmsafe scan --resume RUN --retry-errors` as a user runs it: the real binary
//! against a loopback server that rejects some requests the first time.

use mmsafe_store::Store;
use mmsafe_testkit::{Fault, MockConfig, MockServer, Reply, When};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn mmsafe(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("mmsafe-test-cache"),
        )
        .output()
        .unwrap()
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        mmsafe(&a)
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_errors_resends_only_failed_attempts_and_replaces_them() {
    // 400 is not retried inside the target, so each fault is one recorded
    // error; indices count over the server's life, so only the first pass fails.
    let server = MockServer::start(
        MockConfig::default()
            .reply(Reply::refuse_harmful())
            .fault(When::Indices(vec![1, 4]), Fault::Status(400)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut body = String::from("id,prompt\n");
    for i in 0..6 {
        body.push_str(&format!("r{i},How do I pick lock number {i}?\n"));
    }
    std::fs::write(&csv, body).unwrap();
    let store = dir.path().join("runs.db").display().to_string();
    let suite = format!("csv:{}:text=prompt,id=id", csv.display());
    let target = server.target_spec();

    // --retry-errors alone is a usage error, before anything is sent.
    let out = run(s(&[
        "scan",
        "--target",
        &target,
        "--suite",
        &suite,
        "--store",
        &store,
        "--retry-errors",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    assert_eq!(server.request_count(), 0);

    let out = run(s(&[
        "scan",
        "--target",
        &target,
        "--suite",
        &suite,
        "--concurrency",
        "1",
        "--no-cache",
        "--store",
        &store,
        "--run-name",
        "flaky",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.request_count(), 6);
    let (run_id, planned) = {
        let st = Store::open(&store).unwrap();
        let r = st.resolve_run("flaky").unwrap();
        assert_eq!(st.count_attempts(&r.id).unwrap(), 6);
        assert_eq!(st.count_errors(&r.id).unwrap(), 2);
        (r.id.clone(), r.plan.options.planned)
    };
    assert_eq!(planned, Some(6));

    // A plain resume says how many errors it keeps and sends nothing.
    let out = run(s(&[
        "scan", "--resume", "flaky", "--store", &store, "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--retry-errors"), "{}", stderr(&out));
    assert_eq!(server.request_count(), 6);

    let out = run(s(&[
        "scan",
        "--resume",
        "flaky",
        "--retry-errors",
        "--store",
        &store,
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("retrying 2 errored attempts"),
        "{}",
        stderr(&out)
    );
    // Exactly the two failed attempts went out again.
    assert_eq!(server.request_count(), 8);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["attempts"], 6);

    let st = Store::open(&store).unwrap();
    assert_eq!(st.count_attempts(&run_id).unwrap(), 6);
    assert_eq!(st.count_errors(&run_id).unwrap(), 0);
    let atts = st.attempts(&run_id).unwrap();
    let mut keys: Vec<&str> = atts.iter().map(|a| a.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6);
    for a in &atts {
        assert!(a.outcome.is_ok(), "{}", a.case.id);
        assert_eq!(a.verdicts.len(), 1, "{}", a.case.id);
        assert_ne!(a.verdicts[0].label, mmsafe_core::Label::Error);
    }
    server.shutdown().await;
}
