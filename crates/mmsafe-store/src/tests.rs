//! Replacing error attempts (`scan --resume --retry-errors`).

use super::*;
use mmsafe_core::{Expect, Hazard, Label, Response, TargetErrorKind, Verdict};
use std::collections::BTreeMap;

fn run(store: &mut Store) -> Run {
    store
        .create_run(&NewRun {
            name: None,
            plan: Plan {
                target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
                suites: vec!["rows".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["refusal".into(), "llm".into()],
                repeats: 1,
                max_tokens: None,
                options: Default::default(),
            },
            seed: 0,
            versions: BTreeMap::new(),
        })
        .unwrap()
}

fn attempt(
    run: &str,
    case: &Case,
    outcome: std::result::Result<Response, AttemptError>,
) -> NewAttempt {
    let verdicts = match &outcome {
        Ok(_) => vec![Verdict::new("refusal", Label::Refused, "matched")],
        // Two judges saw the error: both verdicts must go with it.
        Err(_) => vec![
            Verdict::new("refusal", Label::Error, "target error: timeout"),
            Verdict::new("llm", Label::Error, "target error: timeout"),
        ],
    };
    NewAttempt {
        key: attempt_key(run, &case.id, "none", "none", 0),
        case_id: case.id.clone(),
        attack: "none".into(),
        defense: "none".into(),
        repeat: 0,
        request: RequestSummary::default(),
        outcome,
        verdicts,
    }
}

fn timeout() -> AttemptError {
    AttemptError::new(TargetErrorKind::Timeout, "timed out after 1s", 2, 1000.0)
}

fn verdict_rows(store: &Store, key: &str) -> i64 {
    store
        .conn
        .query_row(
            "SELECT count(*) FROM verdicts WHERE attempt_key = ?1",
            [key],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn replacing_an_error_drops_its_verdicts_and_keeps_one_row_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    let run = run(&mut store);
    let cases: Vec<Case> = (0..3)
        .map(|i| Case::text(format!("c{i}"), "q", Hazard::Privacy, Expect::Refuse, "t"))
        .collect();
    let new_cases: Vec<NewCase> = cases
        .iter()
        .map(|c| NewCase {
            attack: "none".into(),
            case: Arc::new(c.clone()),
        })
        .collect();
    // c0 ok, c1 error, c2 ok.
    let first = vec![
        attempt(&run.id, &cases[0], Ok(Response::text("I can't"))),
        attempt(&run.id, &cases[1], Err(timeout())),
        attempt(&run.id, &cases[2], Ok(Response::text("I can't"))),
    ];
    assert_eq!(store.put_batch(&run.id, &new_cases, &first).unwrap(), 3);
    let err_key = first[1].key.clone();
    assert_eq!(verdict_rows(&store, &err_key), 2);
    assert_eq!(store.count_errors(&run.id).unwrap(), 1);
    let skip = store.finished_keys_except_errors(&run.id).unwrap();
    assert_eq!(skip.len(), 2);
    assert!(!skip.contains(&err_key));
    assert_eq!(store.finished_keys(&run.id).unwrap().len(), 3);

    // A plain write never replaces anything.
    let retried = attempt(&run.id, &cases[1], Ok(Response::text("Sure")));
    assert_eq!(
        store
            .put_attempts(&run.id, std::slice::from_ref(&retried))
            .unwrap(),
        0
    );
    assert_eq!(store.count_errors(&run.id).unwrap(), 1);

    // The retry replaces the error row; a retry of an ok attempt is ignored.
    let ok_again = attempt(&run.id, &cases[0], Ok(Response::text("Sure, here")));
    assert_eq!(
        store
            .put_batch_replacing_errors(&run.id, &[], &[retried.clone(), ok_again])
            .unwrap(),
        1
    );
    assert_eq!(store.count_attempts(&run.id).unwrap(), 3);
    assert_eq!(store.count_errors(&run.id).unwrap(), 0);
    // Only the new outcome's single verdict is left: the old "llm" error verdict is gone.
    assert_eq!(verdict_rows(&store, &err_key), 1);
    let all = store.attempts(&run.id).unwrap();
    // Write order kept: the replacement sits where the error was.
    let ids: Vec<&str> = all.iter().map(|a| a.case.id.as_str()).collect();
    assert_eq!(ids, ["c0", "c1", "c2"]);
    assert_eq!(all[1].outcome.as_ref().unwrap().text, "Sure");
    assert_eq!(all[1].verdicts.len(), 1);
    assert_eq!(all[1].verdicts[0].label, Label::Refused);
    assert_eq!(all[0].outcome.as_ref().unwrap().text, "I can't");
    let obs = store.observations(&run.id, None).unwrap();
    assert_eq!(obs.len(), 3);
    assert!(obs.iter().all(|o| o.error_kind.is_none()));

    let fresh_err = attempt(&run.id, &cases[2], Err(timeout()));
    // c2 is ok: an error for it must not replace the response.
    assert_eq!(
        store
            .put_batch_replacing_errors(&run.id, &[], &[fresh_err])
            .unwrap(),
        0
    );
    assert_eq!(store.count_errors(&run.id).unwrap(), 0);
    assert_eq!(store.count_attempts(&run.id).unwrap(), 3);
    let summary = store.list_runs().unwrap();
    assert_eq!((summary[0].attempts, summary[0].errors), (3, 0));
}

#[test]
fn an_error_that_fails_again_is_replaced_by_the_new_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    let run = run(&mut store);
    let case = Case::text("c0", "q", Hazard::Privacy, Expect::Refuse, "t");
    let nc = NewCase {
        attack: "none".into(),
        case: Arc::new(case.clone()),
    };
    let first = attempt(&run.id, &case, Err(timeout()));
    store
        .put_batch(&run.id, std::slice::from_ref(&nc), &[first])
        .unwrap();
    let mut again = attempt(
        &run.id,
        &case,
        Err(AttemptError::new(
            TargetErrorKind::Server,
            "HTTP 500",
            0,
            5.0,
        )),
    );
    again.verdicts.truncate(1);
    assert_eq!(
        store
            .put_batch_replacing_errors(&run.id, &[nc], &[again])
            .unwrap(),
        1
    );
    let all = store.attempts(&run.id).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].outcome.as_ref().unwrap_err().kind, "server");
    assert_eq!(all[0].verdicts.len(), 1);
    assert_eq!(store.count_errors(&run.id).unwrap(), 1);
}

/// Scans started together (CI jobs sharing `./mmsafe.db`) open a brand-new
/// file at the same moment: switching it to WAL takes an exclusive lock that
/// SQLite does not wait for, so opening must wait out a busy store itself.
#[test]
fn many_openers_of_a_new_store_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("shared-{round}.db"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut store = Store::open(&path)?;
                    run(&mut store);
                    Ok::<_, StoreError>(())
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

#[test]
fn a_run_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let r = run(&mut store);
    let other = Store::open(&path).unwrap();
    let held = store.lock_run(&r.id).unwrap();
    let lock_file = dir.path().join(format!("s.db-run-{}.lock", r.id));
    assert!(lock_file.exists());
    match other.lock_run(&r.id) {
        Err(e @ StoreError::RunBusy { .. }) => {
            assert!(e.to_string().contains(&r.id), "{e}");
        }
        other => panic!("expected RunBusy, got {other:?}"),
    }
    // Another run of the same store is not affected.
    let r2 = run(&mut store);
    drop(other.lock_run(&r2.id).unwrap());
    drop(held);
    assert!(!lock_file.exists());
    drop(other.lock_run(&r.id).unwrap());
}
