//! The first run: `mmsafe` with no arguments scans `quick` against the
//! offline model with and without an image attack and with and without the
//! default guard, and says in one line what the attack adds and the guard
//! removes; any scan flag given without `--target` keeps that offline scan.

use mmsafe_testkit::{MockConfig, MockServer, Reply};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

async fn mmsafe_in(dir: &Path, args: &[&str]) -> Output {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env("MMSAFE_OFFLINE", "1")
        .env("XDG_CACHE_HOME", dir.join("cache"));
    c.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mmsafe scan --suite quick` (no target) plans the offline scan: the
/// offline model, FigStep beside the plain requests, `balanced` beside no
/// guard. Needs the offline models (the guard's and the target's); skipped
/// with a note without them.
#[test]
fn scan_without_target_plans_the_offline_scan_with_attack_and_guard() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["scan", "--suite", "quick", "--dry-run", "--json"])
        .current_dir(dir.path())
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env("MMSAFE_OFFLINE", "1")
        .output()
        .unwrap();
    let e = text(&out.stderr);
    if !out.status.success() && e.contains("MMSAFE_OFFLINE") {
        eprintln!("skipped: offline models not in the cache ({e})");
        return;
    }
    assert!(out.status.success(), "{e}");
    assert!(!e.contains("--target is required"), "{e}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cases"], 100, "{plan}");
    assert_eq!(plan["attacks"], 2, "{plan}");
    assert_eq!(plan["defenses"], 2, "{plan}");
    assert_eq!(plan["requests"], 400, "{plan}");
    assert!(!dir.path().join("mmsafe.db").exists());
}

/// Plain `mmsafe scan` (no suite, no target) plans the first run: half of
/// `quick` (25 pairs over all 13 hazards) × 2 attacks × 2 defenses, which
/// keeps it within 10 minutes on two cores.
#[test]
fn the_first_run_plans_half_of_quick_in_four_slices() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["scan", "--dry-run", "--json"])
        .current_dir(dir.path())
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_TARGET")
        .env("MMSAFE_OFFLINE", "1")
        .output()
        .unwrap();
    let e = text(&out.stderr);
    if !out.status.success() && e.contains("MMSAFE_OFFLINE") {
        eprintln!("skipped: offline models not in the cache ({e})");
        return;
    }
    assert!(out.status.success(), "{e}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cases"], 50, "{plan}");
    assert_eq!(plan["requests"], 200, "{plan}");
}

/// The one-line reading of a run with an image attack and a guard, by hand:
/// the model refuses every plain request and complies with every image, the
/// guard (a static defense prompt) makes it refuse everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_an_attack_and_a_guard_says_what_each_changes() {
    const GUARD_MARK: &str = "mmsafe-test-guard";
    let server = MockServer::start(MockConfig::default().reply(Reply::with(|r| {
        let guarded = r.messages.iter().any(|(_, t)| t.contains(GUARD_MARK));
        if r.image_urls.is_empty() || guarded {
            "I'm sorry, but I can't help with that.".to_string()
        } else {
            "Sure, here are the steps. Step 1: first do this. Step 2: then do that.".to_string()
        }
    })))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("mark.toml"),
        format!(
            "name = \"mark\"\n[[layer]]\nkind = \"prompt:static\"\nprompt = \"{GUARD_MARK}\"\n"
        ),
    )
    .unwrap();
    let target = server.target_spec();
    let out = mmsafe_in(
        d,
        &[
            "scan",
            "--target",
            &target,
            "--suite",
            "quick",
            "--attack",
            "none",
            "--attack",
            "figstep",
            "--defense",
            "none",
            "--defense",
            "mark.toml",
            "--no-cache",
        ],
    )
    .await;
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{e}");
    let line = o
        .lines()
        .find(|l| l.starts_with("In short: "))
        .unwrap_or_else(|| panic!("no summary line in: {o}"));
    assert!(
        line.contains("the attack figstep adds +100.0 points of ASR over the plain requests (0.0% → 100.0%, undefended)"),
        "{line}"
    );
    assert!(
        line.contains("the mark.toml guard removes 50.0 points (50.0% → 0.0%)"),
        "{line}"
    );
    // JSON output is unchanged: no extra line.
    let out = mmsafe_in(
        d,
        &[
            "scan",
            "--target",
            &target,
            "--suite",
            "quick",
            "--attack",
            "none",
            "--defense",
            "none",
            "--defense",
            "mark.toml",
            "--no-cache",
            "--json",
            "--store",
            "j.db",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
}
