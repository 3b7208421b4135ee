//! The PostgreSQL store against a real server: `MMSAFE_TEST_POSTGRES` names
//! it (a URL whose role may create schemas). Each test works in a schema of
//! its own. Without the variable the tests skip loudly, unless
//! `MMSAFE_REQUIRE_POSTGRES=1` (set by `.ci/run`), where a missing server fails.

use mmsafe_core::{
    Case, Expect, Hazard, Image, Label, Message, Part, Response, TargetErrorKind, Verdict,
};
use mmsafe_store::shard::{sharded_run_id, Shard};
use mmsafe_store::{
    attempt_key, AttemptError, NewAttempt, NewCase, NewRun, Plan, RequestSummary, RunStatus,
    RunStore, Store, StoreError,
};
use mmsafe_store_pg::PgStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A URL to a fresh, empty schema, or `None` (skip) when no server is configured.
pub fn fresh_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("MMSAFE_TEST_POSTGRES") else {
        if std::env::var("MMSAFE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("MMSAFE_REQUIRE_POSTGRES=1 but MMSAFE_TEST_POSTGRES is not set");
        }
        eprintln!(
            "SKIPPED {test}: no PostgreSQL (set MMSAFE_TEST_POSTGRES=postgres://…; .ci/run does)"
        );
        return None;
    };
    let schema = format!(
        "t_{}_{}",
        std::process::id(),
        mmsafe_core::seed::derive(0, &[test, &format!("{:?}", std::time::SystemTime::now())])
            % 1_000_000
    );
    let mut c = postgres::Client::connect(&base, postgres::NoTls).unwrap_or_else(|e| {
        panic!("MMSAFE_TEST_POSTGRES is set but the server cannot be reached: {e}")
    });
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

fn plan() -> Plan {
    Plan {
        target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
        suites: vec!["figstep:x.csv".into()],
        attacks: vec!["figstep".into()],
        defenses: vec!["none".into()],
        judges: vec!["refusal".into()],
        repeats: 1,
        max_tokens: Some(64),
        options: Default::default(),
    }
}

fn new_run(name: &str) -> NewRun {
    NewRun {
        name: Some(name.into()),
        plan: plan(),
        seed: 7,
        versions: BTreeMap::from([("mmsafe".into(), "0.1.0".into())]),
    }
}

fn image_case(id: &str) -> Case {
    let png = b"\x89PNG\r\n\x1a\nnot really a png but bytes".to_vec();
    let base = Case::text(id, "q", Hazard::Privacy, Expect::Refuse, "test");
    base.derive(
        "figstep",
        &BTreeMap::new(),
        3,
        None,
        vec![Message::user(vec![
            Part::text("look"),
            Part::image(Image::sniff(png).unwrap()),
        ])],
    )
}

fn attempt(run: &str, case: &Case, repeat: u32, ok: bool) -> NewAttempt {
    NewAttempt {
        key: attempt_key(run, &case.id, &case.attack_chain(), "none", repeat),
        case_id: case.id.clone(),
        attack: case.attack_chain(),
        defense: "none".into(),
        repeat,
        request: RequestSummary {
            max_tokens: Some(64),
            temperature: Some(0.0),
            seed: None,
            target: "t".into(),
        },
        outcome: if ok {
            Ok(Response::text("I can't help with that"))
        } else {
            Err(AttemptError::new(
                TargetErrorKind::Timeout,
                "timed out",
                2,
                10.0,
            ))
        },
        verdicts: vec![Verdict::new(
            "refusal",
            if ok { Label::Refused } else { Label::Error },
            "r",
        )],
    }
}

fn batch(run: &str, n: usize, ok: bool) -> (Vec<NewCase>, Vec<NewAttempt>) {
    let mut cases = Vec::new();
    let mut attempts = Vec::new();
    for i in 0..n {
        let c = Arc::new(image_case(&format!("c{i}")));
        cases.push(NewCase {
            attack: c.attack_chain(),
            case: c.clone(),
        });
        attempts.push(attempt(run, &c, 0, ok));
    }
    (cases, attempts)
}

/// What a run holds, backend-independent: identity, outcome, verdicts.
fn content(s: &dyn RunStore, run: &str) -> Vec<String> {
    s.attempts(run)
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {:?} {:?} {}",
                a.key,
                a.case.id,
                a.case.images().count(),
                a.repeat,
                a.outcome.as_ref().map(|r| &r.text).map_err(|e| &e.kind),
                a.verdicts.iter().map(|v| v.label).collect::<Vec<_>>(),
                a.base_case_id
            )
        })
        .collect()
}

#[test]
fn same_invariants_and_same_content_as_sqlite() {
    let Some(url) = fresh_url("same_invariants_and_same_content_as_sqlite") else {
        return;
    };
    let mut pg = PgStore::connect(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = Store::open(dir.path().join("s.db")).unwrap();
    let id = sharded_run_id("same");
    for s in [&mut pg as &mut dyn RunStore, &mut lite as &mut dyn RunStore] {
        let (run, joined) = s
            .create_or_join_run(&id, &new_run("same"), Shard::ALL)
            .unwrap();
        assert!(!joined);
        let (cases, mut attempts) = batch(&run.id, 6, true);
        // Two errors, later retried.
        for a in attempts.iter_mut().take(2) {
            a.outcome = Err(AttemptError::new(TargetErrorKind::Timeout, "slow", 1, 5.0));
            a.verdicts = vec![Verdict::new("refusal", Label::Error, "attempt failed")];
        }
        assert_eq!(s.put_batch(&run.id, &cases, &attempts).unwrap(), 6);
        // Idempotent: one attempt per key.
        assert_eq!(s.put_batch(&run.id, &cases, &attempts).unwrap(), 0);
        assert_eq!(s.count_attempts(&run.id).unwrap(), 6);
        assert_eq!(s.count_errors(&run.id).unwrap(), 2);
        assert_eq!(s.finished_keys_except_errors(&run.id).unwrap().len(), 4);
        // Retry: only the error rows are replaced, in place.
        let (_, fresh) = batch(&run.id, 6, true);
        assert_eq!(
            s.put_batch_replacing_errors(&run.id, &[], &fresh).unwrap(),
            2
        );
        assert_eq!(s.count_errors(&run.id).unwrap(), 0);
        s.put_verdicts(&[(
            fresh[0].key.clone(),
            Verdict::new("llm", Label::Complied, "x"),
        )])
        .unwrap();
        s.close_run(&run.id, RunStatus::Completed).unwrap();
    }
    assert_eq!(content(&pg, &id), content(&lite, &id));
    assert_eq!(
        pg.observations(&id, None).unwrap(),
        lite.observations(&id, None).unwrap()
    );
    assert_eq!(pg.judges(&id).unwrap(), vec!["llm", "refusal"]);
    let r = pg.resolve_run("same").unwrap();
    assert_eq!(
        (r.id.as_str(), r.status),
        (id.as_str(), RunStatus::Completed)
    );
    assert_eq!(pg.resolve_run("sharded-").unwrap().id, id);
    assert!(matches!(
        pg.resolve_run("nope"),
        Err(StoreError::RunNotFound { .. })
    ));
    assert_eq!(pg.list_runs().unwrap()[0].attempts, 6);
    // A plain run gets a fresh id; a second store sees it.
    let plain = pg.create_run(&new_run("plain")).unwrap();
    assert_ne!(plain.id, id);
    assert_eq!(
        PgStore::connect(&url)
            .unwrap()
            .resolve_run("latest")
            .unwrap()
            .id,
        plain.id
    );
    // Copy SQLite -> Postgres of an identical run is a no-op; a new one lands whole.
    let copied = mmsafe_store::merge::copy_run(&lite, &mut pg, &id).unwrap();
    assert_eq!((copied.read, copied.written), (6, 0));
}

#[test]
fn concurrent_writers_keep_one_attempt_per_key_with_its_verdicts() {
    let Some(url) = fresh_url("concurrent_writers") else {
        return;
    };
    let id = sharded_run_id("many");
    let mut workers = Vec::new();
    for w in 0..4u32 {
        let (url, id) = (url.clone(), id.clone());
        workers.push(std::thread::spawn(move || {
            let mut s = PgStore::connect(&url).unwrap();
            let shard = Shard::new(w, 4).unwrap();
            let (run, _) = s.create_or_join_run(&id, &new_run("many"), shard).unwrap();
            s.start_shard(&run.id, shard).unwrap();
            // Every worker writes every attempt (the worst case: a resubmitted
            // shard racing its old self), in its own order, sharing cases.
            let (mut cases, mut attempts) = batch(&run.id, 120, true);
            if w % 2 == 1 {
                cases.reverse();
                attempts.reverse();
            }
            let mut new = 0;
            for (c, a) in cases.chunks(7).zip(attempts.chunks(7)) {
                new += s.put_batch(&run.id, c, a).unwrap();
            }
            s.close_shard(&run.id, shard, RunStatus::Completed, Some(30))
                .unwrap();
            new
        }));
    }
    let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, 120, "each attempt counted new exactly once");
    let s = PgStore::connect(&url).unwrap();
    let atts = s.attempts(&id).unwrap();
    assert_eq!(atts.len(), 120);
    assert!(atts.iter().all(|a| a.verdicts.len() == 1));
    assert_eq!(s.resolve_run(&id).unwrap().status, RunStatus::Completed);
    let shards = s.shard_statuses(&id).unwrap();
    assert_eq!(shards.len(), 4);
    assert_eq!(shards.iter().map(|x| x.recorded).sum::<u64>(), 120);
    // The lock: one holder per shard; a second is refused, a drop releases it.
    let g = s.lock(&id, Some(Shard::new(1, 4).unwrap())).unwrap();
    assert!(matches!(
        s.lock(&id, Some(Shard::new(1, 4).unwrap())),
        Err(StoreError::RunBusy { .. })
    ));
    let other = s.lock(&id, Some(Shard::new(2, 4).unwrap())).unwrap();
    drop(g);
    drop(other);
    s.lock(&id, Some(Shard::new(1, 4).unwrap())).unwrap();
}

#[test]
fn bad_input_is_refused_with_nothing_written_and_no_credentials_shown() {
    let Some(url) = fresh_url("bad_input") else {
        return;
    };
    let mut s = PgStore::connect(&url).unwrap();
    let id = sharded_run_id("bad");
    s.create_or_join_run(&id, &new_run("bad"), Shard::new(0, 4).unwrap())
        .unwrap();
    s.start_shard(&id, Shard::new(0, 4).unwrap()).unwrap();
    let mut other = new_run("bad");
    other.plan.repeats = 2;
    let e = s
        .create_or_join_run(&id, &other, Shard::new(1, 4).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("repeats differ"), "{e}");
    let e = s
        .create_or_join_run(&id, &new_run("bad"), Shard::new(1, 3).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("4 shards, not 3"), "{e}");
    assert_eq!(s.shard_rows(&id).unwrap().len(), 1);

    // Unreachable: a clear error, and the password nowhere in it.
    let e = PgStore::connect("postgres://mmsafe:hunter2secret@127.0.0.1:1/mmsafe")
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(
        !msg.contains("hunter2secret") && msg.contains("127.0.0.1:1"),
        "{msg}"
    );
    assert!(msg.contains("***@"), "{msg}");
    // Wrong password: the server's message, without the password.
    if let Some(at) = url.find('@') {
        let scheme_end = url.find("://").unwrap() + 3;
        let user = url[scheme_end..at].split(':').next().unwrap();
        let bad = format!("{}{}:wr0ngpassw0rd{}", &url[..scheme_end], user, &url[at..]);
        if let Err(e) = PgStore::connect(&bad) {
            assert!(!e.to_string().contains("wr0ngpassw0rd"), "{e}");
        }
    }

    // A database written by a newer mmsafe is refused before anything is written.
    drop(s);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.execute("UPDATE mmsafe_schema SET version = 99", &[])
        .unwrap();
    let e = PgStore::connect(&url).err().unwrap();
    assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("newer"), "{e}");
}
