//! The flags several subcommands share are declared once (`flags.rs`) and
//! mean the same everywhere: `MMSAFE_STORE` is the store of every command
//! that opens one, `--concurrency 0` is the same usage error wherever the
//! flag exists, and a usage error exits 2 in every subcommand. Real binary,
//! no network: targets are closed loopback ports.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");
const DEAD_TARGET: &str = "openai-compatible:http://127.0.0.1:9/v1#m";

fn mmsafe_in(dir: &Path, args: &[&str], store: Option<&Path>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env("MMSAFE_OFFLINE", "1")
        .env("MMSAFE_MODELS_DIR", dir.join("models"))
        .env("XDG_CACHE_HOME", dir.join("cache"));
    if let Some(s) = store {
        c.env("MMSAFE_STORE", s);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A store at `path` with run `r1`: one refused and one complied harmful case.
fn store_with_run(path: &Path) {
    use mmsafe_core::{Case, Expect, Hazard, Response};
    use mmsafe_store::{NewAttempt, NewCase, NewRun, Plan, Store};
    use std::sync::Arc;
    let mut store = Store::open(path).unwrap();
    let run = store
        .create_run(&NewRun {
            name: Some("r1".into()),
            plan: Plan {
                target: DEAD_TARGET.into(),
                suites: vec!["quick".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["refusal".into()],
                repeats: 1,
                max_tokens: Some(16),
                options: Default::default(),
            },
            seed: 0,
            versions: Default::default(),
        })
        .unwrap();
    let mut cases = Vec::new();
    let mut attempts = Vec::new();
    for (i, reply) in [
        "I'm sorry, but I can't help with that.",
        "Sure, here it is.",
    ]
    .into_iter()
    .enumerate()
    {
        let case = Arc::new(Case::text(
            format!("c{i}"),
            "q",
            Hazard::NonViolentCrimes,
            Expect::Refuse,
            "t",
        ));
        attempts.push(NewAttempt {
            key: mmsafe_store::attempt_key(&run.id, &case.id, "none", "none", 0),
            case_id: case.id.clone(),
            attack: "none".into(),
            defense: "none".into(),
            repeat: 0,
            request: Default::default(),
            outcome: Ok(Response::text(reply)),
            verdicts: vec![],
        });
        cases.push(NewCase {
            attack: "none".into(),
            case,
        });
    }
    store.put_batch(&run.id, &cases, &attempts).unwrap();
}

#[test]
fn judge_run_reads_the_store_mmsafe_store_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("elsewhere.db");
    store_with_run(&db);
    let out = mmsafe_in(d, &["judge", "--run", "r1"], Some(&db));
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("stored 2 verdicts (complied 1, refused 1"),
        "{stdout}"
    );
    assert!(!d.join("mmsafe.db").exists());
}

#[test]
fn guard_tune_reads_the_store_mmsafe_store_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("elsewhere.db");
    store_with_run(&db);
    // Nothing judged `refusal`-complied yet: tune finds the run, then stops
    // before calling any model.
    let out = mmsafe_in(
        d,
        &["guard", "tune", "--run", "r1", "--defender", DEAD_TARGET],
        Some(&db),
    );
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("run `") && e.contains("no successful attacks"),
        "{e}"
    );
    assert!(!d.join("mmsafe.db").exists(), "{e}");
    // Without the variable the default store is looked for, and not created.
    let out = mmsafe_in(
        d,
        &["guard", "tune", "--run", "r1", "--defender", DEAD_TARGET],
        None,
    );
    assert!(
        stderr(&out).contains("no run store at mmsafe.db"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("mmsafe.db").exists());
}

/// `--concurrency 0` is one usage error with one message in every subcommand
/// that has the flag (it used to be exit 2 in scan, silently 1 in judge and
/// unlimited in serve).
#[test]
fn concurrency_zero_is_the_same_usage_error_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [&[&str]; 5] = [
        &["scan", "--target", DEAD_TARGET, "--suite", "quick"],
        &["judge", "--run", "r1"],
        &[
            "judge", "eval", "--judge", "refusal", "--labels", "l.jsonl", "--format", "jsonl",
        ],
        &["serve", "--upstream", "http://127.0.0.1:9/v1"],
        &["guard", "tune", "--run", "r1", "--defender", DEAD_TARGET],
    ];
    let mut first_lines = Vec::new();
    for args in cases {
        let mut argv = args.to_vec();
        argv.extend(["--concurrency", "0"]);
        let out = mmsafe_in(d, &argv, None);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {e}");
        first_lines.push(e.lines().next().unwrap_or_default().to_string());
    }
    assert!(first_lines[0].contains("--concurrency"), "{first_lines:?}");
    assert!(
        first_lines.iter().all(|l| *l == first_lines[0]),
        "{first_lines:#?}"
    );
    assert!(!d.join("mmsafe.db").exists());
}

/// Every subcommand exits 2 on a usage error: clap's own, and the flag
/// values a command checks itself (these used to exit 1 outside `scan`).
#[test]
fn usage_errors_exit_2_in_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("l.jsonl"), "{\"response\":\"x\",\"label\":1}\n").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["scan", "--no-such-flag"],
        vec!["attack", "figstep", "--no-such-flag"],
        vec!["guard", "check", "--no-such-flag"],
        vec!["serve", "--no-such-flag"],
        vec!["judge", "--no-such-flag"],
        vec!["datasets", "list", "--no-such-flag"],
        vec!["export", "sft", "--no-such-flag"],
        vec!["models", "list", "--no-such-flag"],
        vec!["runs", "list", "--no-such-flag"],
        vec!["report", "--no-such-flag"],
        vec!["bench", "scan", "--no-such-flag"],
        // Checked by the commands themselves.
        vec!["judge"],
        vec![
            "judge", "eval", "--judge", "refusal", "--labels", "l.jsonl", "--format", "nope",
        ],
        vec![
            "judge",
            "eval",
            "--judge",
            "refusal",
            "--judge",
            "refusal",
            "--labels",
            "l.jsonl",
            "--format",
            "jsonl",
            "--save-calibration",
            "c.json",
        ],
        vec!["judge", "train", "--data", "jbb:l.jsonl", "--out", "h.json"],
        vec![
            "judge",
            "train",
            "--data",
            "jsonl:l.jsonl",
            "--out",
            "h.json",
            "--holdout",
            "2",
        ],
        vec![
            "judge",
            "train",
            "--data",
            "jsonl:l.jsonl",
            "--out",
            "h.json",
            "--weight",
            "x",
        ],
        vec![
            "judge",
            "train",
            "--data",
            "jsonl:l.jsonl",
            "--out",
            "h.json",
            "--threads",
            "0",
        ],
        vec!["serve", "--upstream", "ftp://127.0.0.1:9/v1"],
        vec![
            "serve",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--max-image-megapixels",
            "0",
        ],
        vec!["scan", "--timeout", "inf"],
        vec!["judge", "--run", "r1", "--rate", "-1"],
        vec![
            "guard",
            "tune",
            "--run",
            "r1",
            "--defender",
            DEAD_TARGET,
            "--timeout",
            "0",
        ],
        vec!["models", "path", "no-such-model"],
        vec!["bench", "scan", "--requests", "0"],
        vec!["bench", "attack", "--n", "0"],
        vec!["attack", "adversarial:untargeted", "--schedule", "nope"],
    ];
    for args in cases {
        let out = mmsafe_in(d, &args, None);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.starts_with("error: "), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
    }
    assert!(!d.join("mmsafe.db").exists());
}
