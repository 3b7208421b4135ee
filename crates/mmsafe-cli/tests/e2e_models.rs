//! Acceptance: the model manager from the command line, offline. A local
//! source with the wrong bytes is refused by its pinned sha256 and leaves
//! nothing behind; a good local copy (the user's own cache, when present)
//! is pulled into a fresh models dir and verifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn mmsafe(dir: &Path, models: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MMSAFE_LOG")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("MMSAFE_MODELS_DIR", models)
        .env("MMSAFE_OFFLINE", "1")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn offline_pull_with_wrong_bytes_is_refused_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let models = d.join("models");
    let fake = d.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("model.safetensors"), "not the model").unwrap();
    let fake_s = fake.display().to_string();
    let out = mmsafe(
        d,
        &models,
        &["models", "pull", "all-minilm-l6-v2", "--from", &fake_s],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(
        e.contains("sha256") && e.contains("model.safetensors"),
        "{e}"
    );
    assert!(
        files_under(&models).is_empty(),
        "left behind: {:?}",
        files_under(&models)
    );
    assert!(
        fake.join("model.safetensors").exists(),
        "the source was touched"
    );

    // Offline with nothing local: names the missing file and the way out.
    let out = mmsafe(d, &models, &["models", "pull", "all-minilm-l6-v2"]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("MMSAFE_OFFLINE") && e.contains("--from"), "{e}");

    // Unknown model: lists the known ones.
    let out = mmsafe(d, &models, &["models", "path", "gpt-17"]);
    // A bad argument value: a usage error, as in every subcommand.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("all-minilm-l6-v2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn offline_pull_from_a_local_copy_then_verify() {
    let home_models = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|h| h.join(".cache/mmsafe/models/all-minilm-l6-v2"));
    let Some(src) = home_models.filter(|p| p.join("model.safetensors").exists()) else {
        eprintln!("skipping: no local all-minilm-l6-v2 copy to pull from");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let models = d.join("models");
    let src_s = src.display().to_string();
    let out = mmsafe(
        d,
        &models,
        &["models", "pull", "all-minilm-l6-v2", "--from", &src_s],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mmsafe(d, &models, &["models", "verify"]);
    let listing = text(&out.stdout);
    let minilm: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("all-minilm-l6-v2"))
        .collect();
    assert_eq!(minilm.len(), 3, "{listing}");
    assert!(
        minilm.iter().all(|l| l.trim_end().ends_with("ok")),
        "{listing}"
    );
    let out = mmsafe(d, &models, &["models", "path", "all-minilm-l6-v2"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(&models.display().to_string()));
}
