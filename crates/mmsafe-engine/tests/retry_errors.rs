//! `--resume --retry-errors` against the real OpenAI-compatible target and a
//! loopback server that fails some requests the first time: the resume sends
//! exactly the failed attempts again and their new outcome replaces the error.

use async_trait::async_trait;
use mmsafe_core::{
    Attack, AttackError, Case, DataError, DynTarget, Expect, Hazard, Judge, JudgeError, Label,
    Response, Source, Verdict,
};
use mmsafe_engine::{scan, CancellationToken, Finished, NamedAttack, NamedDefense, Scan};
use mmsafe_store::{NewRun, Plan, RunStatus, Store};
use mmsafe_target::{build_http_target, with_ops, CacheMode, TargetOptions};
use mmsafe_testkit::{Fault, MockConfig, MockServer, When};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Rows(usize);
impl Source for Rows {
    fn name(&self) -> &str {
        "rows"
    }
    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_> {
        Box::new((0..self.0).map(|i| {
            Ok(Case::text(
                format!("c{i}"),
                format!("question {i}"),
                Hazard::NonViolentCrimes,
                Expect::Refuse,
                "rows",
            ))
        }))
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.0)
    }
}

struct Identity;
#[async_trait]
impl Attack for Identity {
    fn name(&self) -> &str {
        "none"
    }
    async fn apply(&self, case: &Case, _seed: u64) -> Result<Vec<Case>, AttackError> {
        Ok(vec![case.clone()])
    }
}

struct Always(&'static str);
#[async_trait]
impl Judge for Always {
    fn name(&self) -> &str {
        self.0
    }
    async fn judge(&self, _c: &Case, _r: &Response) -> Result<Verdict, JudgeError> {
        Ok(Verdict::new(self.0, Label::Complied, ""))
    }
}

fn target(server: &MockServer) -> DynTarget {
    let opts = TargetOptions {
        concurrency: 1,
        timeout: Duration::from_secs(5),
        // No retries inside the target: a fault is recorded as an error.
        max_retries: 0,
        cache: CacheMode::Off,
        ..TargetOptions::default()
    };
    with_ops(
        build_http_target(&server.target_spec(), &opts).unwrap(),
        &opts,
    )
}

fn new_run(path: &Path, server: &MockServer) -> String {
    let mut store = Store::open(path).unwrap();
    store
        .create_run(&NewRun {
            name: None,
            plan: Plan {
                target: server.target_spec(),
                suites: vec!["rows".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["a".into(), "b".into()],
                repeats: 1,
                max_tokens: None,
                options: Default::default(),
            },
            seed: 0,
            versions: BTreeMap::new(),
        })
        .unwrap()
        .id
}

async fn run_scan(
    path: &Path,
    run: &str,
    server: &MockServer,
    resume: bool,
    retry_errors: bool,
) -> Finished {
    scan(
        Scan {
            run_id: run.to_string(),
            seed: 0,
            target: target(server),
            attacks: vec![NamedAttack {
                spec: "none".into(),
                attack: Arc::new(Identity),
            }],
            defenses: vec![NamedDefense {
                spec: "none".into(),
                layer: None,
            }],
            judges: vec![Arc::new(Always("a")), Arc::new(Always("b"))],
            repeats: 1,
            max_tokens: None,
            // One at a time, so request index i is case i on the first pass.
            concurrency: 1,
            resume,
            retry_errors,
            shard: None,
        },
        vec![Box::new(Rows(8))],
        Store::open(path).unwrap(),
        CancellationToken::new(),
        Arc::new(|_| {}),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_retry_errors_replaces_exactly_the_failed_attempts() {
    // Indices count over the server's life: only the first pass hits faults.
    let server = MockServer::start(
        MockConfig::default()
            .fault(When::Indices(vec![1, 4]), Fault::ServerError)
            .fault(When::Indices(vec![6]), Fault::MalformedJson),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let run = new_run(&path, &server);

    let first = run_scan(&path, &run, &server, false, false).await;
    assert_eq!((first.progress.done, first.progress.errors), (8, 3));
    let store = Store::open(&path).unwrap();
    let before = store.attempts(&run).unwrap();
    assert_eq!(store.count_errors(&run).unwrap(), 3);
    drop(store);

    // A plain resume keeps the errors: nothing is sent.
    let plain = run_scan(&path, &run, &server, true, false).await;
    assert_eq!((plain.progress.done, plain.progress.skipped), (0, 8));
    assert_eq!(server.request_count(), 8);

    let retry = run_scan(&path, &run, &server, true, true).await;
    assert_eq!(retry.progress.skipped, 5);
    assert_eq!((retry.progress.done, retry.progress.errors), (3, 0));
    // Exactly the three failed attempts went out again.
    assert_eq!(server.request_count(), 11);

    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.resolve_run(&run).unwrap().status,
        RunStatus::Completed
    );
    assert_eq!(store.count_attempts(&run).unwrap(), 8);
    assert_eq!(store.count_errors(&run).unwrap(), 0);
    let after = store.attempts(&run).unwrap();
    // Same keys in the same order: the retries took the errors' places.
    let keys =
        |v: &[mmsafe_store::StoredAttempt]| v.iter().map(|a| a.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&before), keys(&after));
    for (b, a) in before.iter().zip(&after) {
        assert!(a.outcome.is_ok(), "{}", a.case.id);
        // Both judges' verdicts are the new ones; no error verdict is left.
        let labels: Vec<(String, Label)> = a
            .verdicts
            .iter()
            .map(|v| (v.judge.clone(), v.label))
            .collect();
        assert_eq!(
            labels,
            [
                ("a".to_string(), Label::Complied),
                ("b".to_string(), Label::Complied)
            ]
        );
        if let Ok(old) = &b.outcome {
            // Attempts that had succeeded were not touched.
            assert_eq!(old.text, a.outcome.as_ref().unwrap().text);
        }
    }
    let obs = store.observations(&run, None).unwrap();
    assert_eq!(obs.len(), 16);
    assert!(obs
        .iter()
        .all(|o| o.error_kind.is_none() && o.label == Label::Complied));
    let listed = store.list_runs().unwrap();
    assert_eq!((listed[0].attempts, listed[0].errors), (8, 0));

    // Nothing left to retry: a second retry sends nothing.
    drop(store);
    let again = run_scan(&path, &run, &server, true, true).await;
    assert_eq!((again.progress.done, again.progress.skipped), (0, 8));
    assert_eq!(server.request_count(), 11);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_errors_without_resume_is_a_plain_scan() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let run = new_run(&path, &server);
    let fin = run_scan(&path, &run, &server, false, true).await;
    assert_eq!((fin.progress.done, fin.progress.skipped), (8, 0));
    assert_eq!(Store::open(&path).unwrap().count_attempts(&run).unwrap(), 8);
    server.shutdown().await;
}
