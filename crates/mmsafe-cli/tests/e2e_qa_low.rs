//! Low-severity QA findings, checked on the real binary: flag values that
//! are usage errors, per-attack help, a broken user template, an unclosed
//! CSV quote and error causes printed once. Nothing here reaches a network:
//! every target is a closed loopback port and every check fails or answers
//! before a request would be sent.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");
const DEAD_TARGET: &str = "openai-compatible:http://127.0.0.1:9/v1#m";

fn mmsafe_in(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env_remove("MMSAFE_TEMPLATES")
        .env("MMSAFE_OFFLINE", "1")
        .env("XDG_CACHE_HOME", dir.join("cache"));
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every rejected flag value exits 2 with a message naming the flag, before
/// a run (or the store) exists. `--timeout inf` used to panic (exit 101).
#[test]
fn scan_flag_values_out_of_range_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (extra, flag) in [
        (&["--fail-above", "asr=1.5"][..], "--fail-above"),
        (&["--fail-above", "asr=-0.1"], "--fail-above"),
        (&["--fail-above", "asr=abc"], "--fail-above"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--repeats", "0"], "--repeats"),
        (&["--rate", "0"], "--rate"),
        (&["--rate", "-1"], "--rate"),
        (&["--timeout", "0"], "--timeout"),
        (&["--timeout", "-1"], "--timeout"),
        (&["--timeout", "inf"], "--timeout"),
        (&["--timeout", "1e30"], "--timeout"),
        (&["--timeout", "nan"], "--timeout"),
        (&["--max-tokens", "0"], "--max-tokens"),
        (&["--threads", "0"], "--threads"),
    ] {
        for dry in [false, true] {
            let mut args = vec![
                "scan",
                "--target",
                DEAD_TARGET,
                "--suite",
                "quick",
                "--store",
                "runs.db",
            ];
            if dry {
                args.push("--dry-run");
            }
            args.extend_from_slice(extra);
            let out = mmsafe_in(d, &args, &[]);
            let e = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{extra:?}: {e}");
            assert!(e.contains(flag), "{extra:?}: {e}");
            assert!(!e.contains("panicked"), "{extra:?}: {e}");
        }
    }
    assert!(!d.join("runs.db").exists());
}

/// `mmsafe attack NAME --help` is that attack's help: the flags and the
/// attack's parameters, not the generic `mmsafe attack` help.
#[test]
fn per_attack_help_shows_flags_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    for help in ["--help", "-h"] {
        let out = mmsafe_in(dir.path(), &["attack", "figstep", help], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let h = stdout(&out);
        assert!(h.contains("Usage: mmsafe attack figstep"), "{h}");
        for flag in ["--input", "--out", "--seed", "--column"] {
            assert!(h.contains(flag), "{flag}: {h}");
        }
        assert!(h.contains("Parameters of figstep"), "{h}");
        assert!(h.contains("size="), "{h}");
    }
    // The flag may also come after other words.
    let out = mmsafe_in(
        dir.path(),
        &["attack", "inject:corner", "--input", "x", "--help"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Parameters of inject:corner"));
}

/// A malformed file in `MMSAFE_TEMPLATES` disables only its own template:
/// `attack list` still works and shows it as unavailable with file and
/// reason; unrelated attacks work; using it fails naming the file.
#[test]
fn broken_user_template_disables_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tpl = d.join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(tpl.join("broken.toml"), "name = \"broken\"\nsummary = \n").unwrap();
    std::fs::write(
        tpl.join("fine.toml"),
        "name = \"fine\"\nsummary = \"ok\"\ntemplate = \"Please answer: {prompt}\"\n",
    )
    .unwrap();
    std::fs::write(d.join("q.txt"), "What is the capital of France?\n").unwrap();
    let env = [("MMSAFE_TEMPLATES", tpl.as_path())];

    let out = mmsafe_in(d, &["attack", "list"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    let at = list
        .find("template:broken")
        .expect("broken template listed");
    let entry = &list[at..list[at..]
        .find("\ntemplate:fine")
        .map_or(list.len(), |i| at + i)];
    assert!(
        entry.contains("UNAVAILABLE") && entry.contains("broken.toml") && entry.contains("line 2"),
        "{entry}"
    );
    assert!(list.contains("template:fine") && list.contains("figstep"));

    let out = mmsafe_in(d, &["attack", "list", "--json"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let broken = j["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "template:broken")
        .expect("broken template in --json");
    assert!(
        broken["summary"].as_str().unwrap().contains("broken.toml"),
        "{broken}"
    );

    for attack in ["figstep", "template:fine", "template:roleplay"] {
        let out = mmsafe_in(
            d,
            &["attack", attack, "--input", "q.txt", "--out", attack],
            &env,
        );
        assert!(out.status.success(), "{attack}: {}", stderr(&out));
    }
    let out = mmsafe_in(
        d,
        &[
            "attack",
            "template:broken",
            "--input",
            "q.txt",
            "--out",
            "b",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("error:") && e.contains("broken.toml"), "{e}");
}

/// An unclosed quote is reported as such, at the line the quote opens on,
/// not as a record short of a column.
#[test]
fn unclosed_csv_quote_names_the_opening_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("bq.csv"),
        "dataset,category_id,task_id,category_name,question,instruction\n\
         SafeBench,1,1,Fraud,\"What is a receipt?,Steps to read a receipt.\n\
         SafeBench,1,2,Fraud,What is a ticket?,Steps to read a ticket.\n",
    )
    .unwrap();
    std::fs::write(d.join("bq2.csv"), "prompt\nfirst\n\"second\nthird\n").unwrap();
    for (suite, line) in [("figstep:bq.csv", 2), ("csv:bq2.csv", 3)] {
        let out = mmsafe_in(d, &["datasets", "validate", suite], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        // `validate` lists problems on stdout and sums them up on stderr.
        let e = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            e.contains(&format!(
                ":{line}: unterminated quoted field starting at line {line}"
            )),
            "{suite}: {e}"
        );
        assert!(!e.contains("is missing"), "{suite}: {e}");
    }
}

/// Each cause is printed once: a store that is not a database says so in one
/// line, not again as `caused by:`.
#[test]
fn store_error_cause_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("notdb.db"),
        "just some text, not SQLite\n".repeat(20),
    )
    .unwrap();
    for args in [
        &["runs", "list", "--store", "notdb.db"][..],
        &["report", "r1", "--store", "notdb.db"],
        &[
            "scan",
            "--target",
            DEAD_TARGET,
            "--suite",
            "quick",
            "--store",
            "notdb.db",
        ],
    ] {
        let out = mmsafe_in(d, args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let e = stderr(&out);
        assert_eq!(e.matches("not a database").count(), 1, "{args:?}: {e}");
        assert!(
            e.contains("notdb.db") && !e.contains("caused by"),
            "{args:?}: {e}"
        );
    }
}

/// `serve --timeout 0` would time out every upstream call at once: refused
/// at parse time, before anything listens.
#[test]
fn serve_timeout_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = mmsafe_in(
        dir.path(),
        &[
            "serve",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--timeout",
            "0",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
}
