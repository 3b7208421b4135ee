//! The engine against the real OpenAI-compatible target and a loopback server
//! that injects every fault kind: the run completes and records each one.

use async_trait::async_trait;
use mmsafe_core::{
    Attack, AttackError, Case, DataError, Expect, Hazard, Judge, JudgeError, Label, Response,
    Source, Verdict,
};
use mmsafe_engine::{scan, CancellationToken, NamedAttack, NamedDefense, Scan};
use mmsafe_store::{NewRun, Plan, RunStatus, Store};
use mmsafe_target::{build_http_target, with_ops, CacheMode, TargetOptions};
use mmsafe_testkit::{Fault, MockConfig, MockServer, When};
use std::collections::BTreeMap;
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

struct Always;
#[async_trait]
impl Judge for Always {
    fn name(&self) -> &str {
        "always"
    }
    async fn judge(&self, _c: &Case, _r: &Response) -> Result<Verdict, JudgeError> {
        Ok(Verdict::new("always", Label::Complied, ""))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_kind_is_recorded_and_the_run_completes() {
    let server = MockServer::start(
        MockConfig::default()
            .fault(When::Indices(vec![1]), Fault::rate_limited(0))
            .fault(When::Indices(vec![2]), Fault::ServerError)
            .fault(When::Indices(vec![3]), Fault::Hang(Duration::from_secs(3)))
            .fault(When::Indices(vec![4]), Fault::MalformedJson)
            .fault(When::Indices(vec![5]), Fault::ContentFilter)
            .fault(When::Indices(vec![6]), Fault::Status(400)),
    )
    .await
    .unwrap();
    let opts = TargetOptions {
        concurrency: 1,
        timeout: Duration::from_millis(300),
        max_retries: 0,
        cache: CacheMode::Off,
        ..TargetOptions::default()
    };
    let target = with_ops(
        build_http_target(&server.target_spec(), &opts).unwrap(),
        &opts,
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let mut store = Store::open(&path).unwrap();
    let run = store
        .create_run(&NewRun {
            name: None,
            plan: Plan {
                target: server.target_spec(),
                suites: vec!["rows".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["always".into()],
                repeats: 1,
                max_tokens: None,
                options: Default::default(),
            },
            seed: 0,
            versions: BTreeMap::new(),
        })
        .unwrap();
    let fin = scan(
        Scan {
            run_id: run.id.clone(),
            seed: 0,
            target,
            attacks: vec![NamedAttack {
                spec: "none".into(),
                attack: Arc::new(Identity),
            }],
            defenses: vec![NamedDefense {
                spec: "none".into(),
                layer: None,
            }],
            judges: vec![Arc::new(Always)],
            repeats: 1,
            max_tokens: None,
            // One at a time, so request index i is case i.
            concurrency: 1,
            resume: false,
            retry_errors: false,
            shard: None,
        },
        vec![Box::new(Rows(8))],
        store,
        CancellationToken::new(),
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    assert_eq!(fin.progress.done, 8);
    assert_eq!(fin.progress.errors, 5);

    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.resolve_run(&run.id).unwrap().status,
        RunStatus::Completed
    );
    let atts = store.attempts(&run.id).unwrap();
    let kind = |id: &str| {
        let a = atts.iter().find(|a| a.case.id == id).unwrap();
        match &a.outcome {
            Ok(r) => format!("ok:{}", r.finish_reason.as_str()),
            Err(e) => e.kind.clone(),
        }
    };
    assert_eq!(kind("c0"), "ok:stop");
    assert_eq!(kind("c1"), "rate_limited");
    assert_eq!(kind("c2"), "server");
    assert_eq!(kind("c3"), "timeout");
    assert_eq!(kind("c4"), "malformed");
    assert_eq!(kind("c5"), "ok:content_filter");
    assert_eq!(kind("c6"), "bad_request");
    assert_eq!(kind("c7"), "ok:stop");
    for a in &atts {
        let expect = if a.outcome.is_err() {
            Label::Error
        } else {
            Label::Complied
        };
        assert_eq!(a.verdicts[0].label, expect);
        if let Err(e) = &a.outcome {
            assert!(!e.message.is_empty());
        }
    }
    server.shutdown().await;
}

/// A 429 with `Retry-After` followed by success is one successful attempt
/// that records its retry, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_rate_limit_is_recorded_as_success_with_retries() {
    let server =
        MockServer::start(MockConfig::default().fault(When::FirstN(1), Fault::rate_limited(0)))
            .await
            .unwrap();
    let opts = TargetOptions {
        concurrency: 1,
        timeout: Duration::from_secs(5),
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(10),
        cache: CacheMode::Off,
        ..TargetOptions::default()
    };
    let target = with_ops(
        build_http_target(&server.target_spec(), &opts).unwrap(),
        &opts,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let mut store = Store::open(&path).unwrap();
    let run = store
        .create_run(&NewRun {
            name: None,
            plan: Plan {
                target: server.target_spec(),
                suites: vec!["rows".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["always".into()],
                repeats: 1,
                max_tokens: None,
                options: Default::default(),
            },
            seed: 0,
            versions: BTreeMap::new(),
        })
        .unwrap();
    let fin = scan(
        Scan {
            run_id: run.id.clone(),
            seed: 0,
            target,
            attacks: vec![NamedAttack {
                spec: "none".into(),
                attack: Arc::new(Identity),
            }],
            defenses: vec![NamedDefense {
                spec: "none".into(),
                layer: None,
            }],
            judges: vec![Arc::new(Always)],
            repeats: 1,
            max_tokens: None,
            concurrency: 1,
            resume: false,
            retry_errors: false,
            shard: None,
        },
        vec![Box::new(Rows(2))],
        store,
        CancellationToken::new(),
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    assert_eq!((fin.progress.done, fin.progress.errors), (2, 0));
    let atts = Store::open(&path).unwrap().attempts(&run.id).unwrap();
    let first = atts.iter().find(|a| a.case.id == "c0").unwrap();
    assert_eq!(first.outcome.as_ref().unwrap().retries, 1);
    assert_eq!(server.request_count(), 3);
    server.shutdown().await;
}
