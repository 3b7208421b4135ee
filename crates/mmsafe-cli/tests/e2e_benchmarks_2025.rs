//! The 2025–26 benchmark loaders through the binary: `datasets list`,
//! `validate` and `show` on the fixtures, and a scan of MSSBench's safe/unsafe
//! context pairs against a loopback mock whose report carries context
//! sensitivity.

use mmsafe_testkit::{MockConfig, MockServer, Reply};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mmsafe-data/tests/fixtures")
        .join(name)
}

fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_LOG")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("MMSAFE_MODELS_DIR", dir.join("models"))
        .env("MMSAFE_OFFLINE", "1")
        .current_dir(dir);
    c
}

async fn run_in(dir: &Path, args: Vec<String>) -> Output {
    let mut c = cmd(dir);
    c.args(args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&o.stdout), text(&o.stderr)))
}

fn sha(path: PathBuf) -> String {
    mmsafe_core::Image::new(std::fs::read(path).unwrap(), "image/png")
        .sha256()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_commands_know_the_new_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_in(d, args(&["datasets", "list", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout);
    for name in [
        "vlsbench",
        "msts",
        "vlsu",
        "mssbench",
        "hades",
        "omnisafebench-mm",
        "safebench-mm",
        "mmdt",
    ] {
        assert!(all.contains(&format!("\"{name}\"")), "missing `{name}`");
    }
    for (spec, cases, images) in [
        (
            format!("vlsbench:{}", fixture("vlsbench/data.json").display()),
            3,
            3,
        ),
        (
            format!("msts:{}:languages=all", fixture("msts/data").display()),
            4,
            4,
        ),
        (format!("vlsu:{}", fixture("vlsu/VLSU.csv").display()), 2, 2),
        (format!("mssbench:{}", fixture("mssbench").display()), 8, 8),
        (format!("hades:{}", fixture("hades").display()), 3, 3),
        (
            format!(
                "omnisafebench-mm:{}",
                fixture("omnisafebench-mm/dataset/data_test.json").display()
            ),
            2,
            2,
        ),
        (
            format!("safebench-mm:{}", fixture("safebench-mm").display()),
            3,
            3,
        ),
        // Parquet with the images embedded in the file.
        (format!("mmdt:{}", fixture("mmdt").display()), 6, 6),
    ] {
        let out = run_in(d, args(&["datasets", "validate", &spec, "--json"])).await;
        assert!(out.status.success(), "{spec}: {}", text(&out.stderr));
        let j = json(&out);
        assert_eq!(j["cases"], cases, "{spec}: {j}");
        assert_eq!(j["images"], images, "{spec}: {j}");
    }
    let spec = format!("mssbench:{}", fixture("mssbench").display());
    let out = run_in(d, args(&["datasets", "show", &spec, "--limit", "2"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("mssbench-chat-0-0-safe") && shown.contains("mssbench-chat-0-0-unsafe"),
        "{shown}"
    );
}

/// The mock "sees" a trigger word in the unsafe chat images only, so it
/// refuses those and answers everything else: three chat pairs come out
/// context-sensitive, the embodied pair answered on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssbench_scan_reports_context_sensitivity() {
    let config = MockConfig::default()
        .reply(Reply::refuse_harmful())
        .image_hint(sha(fixture("mssbench/chat/1.png")), "a weapon")
        .image_hint(sha(fixture("mssbench/chat/3.png")), "a weapon");
    let server = MockServer::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = format!("mssbench:{}", fixture("mssbench").display());
    let out = run_in(
        d,
        args(&[
            "scan",
            "--target",
            &server.target_spec(),
            "--suite",
            &spec,
            "--store",
            "ctx.db",
            "--no-cache",
            "--json",
        ]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["attempts"], 8, "{j}");
    let c = &j["context_sensitivity"];
    assert_eq!(c["pairs"], 4, "{j}");
    assert_eq!(c["sensitive"], 3, "{c}");
    assert_eq!(c["answered_both"], 1, "{c}");
    assert_eq!(c["rate"], 0.75, "{c}");
    assert!(
        j["fairness"].is_null(),
        "context pairs are not fairness pairs: {j}"
    );

    let out = run_in(
        d,
        args(&["report", "latest", "--format", "md", "--store", "ctx.db"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.contains("context sensitivity: answered the safe context and refused the unsafe one in 3 of 4 pairs"), "{md}");
    server.shutdown().await;
}
