use mmsafe_core::{
    Case, Expect, Hazard, Image, Label, Message, Part, Response, TargetErrorKind, Verdict,
};
use mmsafe_store::{
    attempt_key, AttemptError, NewAttempt, NewCase, NewRun, Plan, RequestSummary, RunStatus, Store,
};
use std::collections::BTreeMap;

fn plan() -> Plan {
    Plan {
        target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
        suites: vec!["figstep:x.csv".into()],
        attacks: vec!["none".into(), "figstep".into()],
        defenses: vec!["none".into()],
        judges: vec!["refusal".into()],
        repeats: 1,
        max_tokens: Some(64),
        options: Default::default(),
    }
}

fn new_run(store: &mut Store, name: &str) -> mmsafe_store::Run {
    store
        .create_run(&NewRun {
            name: Some(name.into()),
            plan: plan(),
            seed: 7,
            versions: BTreeMap::from([("mmsafe".into(), "0.1.0".into())]),
        })
        .unwrap()
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

fn ok_attempt(run: &str, case: &Case, repeat: u32, text: &str) -> NewAttempt {
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
        outcome: Ok(Response::text(text)),
        verdicts: vec![Verdict::new("refusal", Label::Refused, "matched `I can't`")],
    }
}

#[test]
fn round_trip_runs_cases_attempts_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let run = new_run(&mut store, "first");
    let case = image_case("c1");
    store.put_case(&run.id, "figstep", &case).unwrap();
    // Same image in a second case is stored once.
    let case2 = image_case("c2");
    store.put_case(&run.id, "figstep", &case2).unwrap();
    let back = store
        .load_case(&run.id, "figstep", &case.id)
        .unwrap()
        .unwrap();
    assert_eq!(back, case);

    let a = ok_attempt(&run.id, &case, 0, "I can't help");
    let mut err = ok_attempt(&run.id, &case2, 0, "");
    err.outcome = Err(AttemptError::new(
        TargetErrorKind::Timeout,
        "timed out after 1s",
        2,
        1000.0,
    ));
    err.verdicts = vec![Verdict::new("refusal", Label::Error, "timeout")];
    assert_eq!(
        store
            .put_attempts(&run.id, &[a.clone(), err.clone()])
            .unwrap(),
        2
    );
    // Idempotent by key.
    assert_eq!(
        store
            .put_attempts(&run.id, std::slice::from_ref(&a))
            .unwrap(),
        0
    );
    assert_eq!(store.finished_keys(&run.id).unwrap().len(), 2);

    let stored = store.attempts(&run.id).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(*stored[0].case, case);
    assert_eq!(stored[0].base_case_id, "c1");
    assert_eq!(stored[0].outcome.as_ref().unwrap().text, "I can't help");
    assert_eq!(stored[1].outcome.as_ref().unwrap_err().kind, "timeout");

    let obs = store.observations(&run.id, Some("refusal")).unwrap();
    assert_eq!(obs.len(), 2);
    assert_eq!(obs[0].label, Label::Refused);
    assert_eq!(obs[0].hazard, Hazard::Privacy);
    assert_eq!(obs[1].error_kind.as_deref(), Some("timeout"));
    assert!(store
        .observations(&run.id, Some("other"))
        .unwrap()
        .is_empty());

    // Re-judging replaces one judge's verdict and adds another's.
    store
        .put_verdicts(&[
            (
                a.key.clone(),
                Verdict::new("refusal", Label::Complied, "re"),
            ),
            (a.key.clone(), Verdict::new("llm:x", Label::Refused, "")),
        ])
        .unwrap();
    assert_eq!(store.judges(&run.id).unwrap(), vec!["llm:x", "refusal"]);
    let obs = store.observations(&run.id, Some("refusal")).unwrap();
    assert_eq!(obs[0].label, Label::Complied);

    store.close_run(&run.id, RunStatus::Completed).unwrap();
    drop(store);

    // Reopen: everything is still there and the run resolves by name and prefix.
    let store = Store::open(&path).unwrap();
    let r = store.resolve_run("first").unwrap();
    assert_eq!(r.id, run.id);
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.plan, plan());
    assert_eq!(store.resolve_run(&run.id[..12]).unwrap().id, run.id);
    assert_eq!(store.resolve_run("latest").unwrap().id, run.id);
    assert!(store.resolve_run("nope").is_err());
    let list = store.list_runs().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].attempts, list[0].errors), (2, 1));
}

#[test]
fn attempt_keys_are_stable_and_distinct() {
    let k = attempt_key("r", "c", "none", "none", 0);
    assert_eq!(k, attempt_key("r", "c", "none", "none", 0));
    assert_eq!(k.len(), 32);
    assert_ne!(k, attempt_key("r", "c", "none", "none", 1));
    assert_ne!(k, attempt_key("r", "c", "none", "strict", 0));
    assert_ne!(k, attempt_key("r2", "c", "none", "none", 0));
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
    assert!(err.contains("s.db"), "{err}");
}

/// A child process writes batches and is SIGKILLed mid-way: every batch it
/// committed is intact and the file opens cleanly.
#[test]
fn committed_batches_survive_sigkill() {
    if std::env::var("MMSAFE_STORE_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let run = new_run(&mut store, "killed");
    drop(store);
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "sigkill_child_writer",
            "--nocapture",
            "--include-ignored",
        ])
        .env("MMSAFE_STORE_CHILD_PATH", &path)
        .env("MMSAFE_STORE_CHILD_RUN", &run.id)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the child reports some committed batches, then kill it hard.
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0u64;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.trim().parse().unwrap();
            if committed >= 50 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
    assert!(committed >= 50);
    let store = Store::open(&path).unwrap();
    let n = store.count_attempts(&run.id).unwrap();
    assert!(
        n >= committed,
        "had {n} attempts, child reported {committed}"
    );
    assert!(
        n.is_multiple_of(10),
        "a batch was half-written: {n} attempts"
    );
    assert_eq!(store.attempts(&run.id).unwrap().len() as u64, n);
}

#[test]
#[ignore = "helper process for committed_batches_survive_sigkill"]
fn sigkill_child_writer() {
    let (Ok(path), Ok(run)) = (
        std::env::var("MMSAFE_STORE_CHILD_PATH"),
        std::env::var("MMSAFE_STORE_CHILD_RUN"),
    ) else {
        return;
    };
    let mut store = Store::open(&path).unwrap();
    let mut total = 0u64;
    for b in 0..100_000u32 {
        let case = Case::text(format!("c{b}"), "q", Hazard::Hate, Expect::Refuse, "t");
        let batch: Vec<NewAttempt> = (0..10).map(|r| ok_attempt(&run, &case, r, "ok")).collect();
        store
            .put_batch(
                &run,
                &[NewCase {
                    attack: "none".into(),
                    case: std::sync::Arc::new(case),
                }],
                &batch,
            )
            .unwrap();
        total += 10;
        println!("committed {total}");
    }
}

/// Independent writers (separate connections, as separate processes have)
/// into one new store all finish: the migration and every write batch take
/// the write lock up front and wait for it, none fails with "database is locked".
#[test]
fn concurrent_writers_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let run = new_run(&mut store, &format!("w{w}"));
                let case = image_case(&format!("c{w}"));
                store
                    .put_case(&run.id, &case.attack_chain(), &case)
                    .unwrap();
                for batch in 0..20u32 {
                    let attempts: Vec<_> = (0..5)
                        .map(|i| ok_attempt(&run.id, &case, batch * 5 + i, "I can't"))
                        .collect();
                    store.put_attempts(&run.id, &attempts).unwrap();
                }
                store.close_run(&run.id, RunStatus::Completed).unwrap();
                run.id
            })
        })
        .collect();
    let ids: Vec<String> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let store = Store::open(&path).unwrap();
    for id in ids {
        assert_eq!(store.count_attempts(&id).unwrap(), 100);
    }
}
