//! One rule for every offline model: the `classifier` judge and the guard
//! presets download what they miss on first use, exactly like the `local:`
//! target, and under `MMSAFE_OFFLINE` they name the missing file instead.
//!
//! The registry is a loopback PyPI (JSON API plus wheel files) whose wheels
//! are built from the real model files in the user's cache, so the pinned
//! sha256 checks run for real. Without those files (no `mmsafe models pull`
//! yet) the test says so and skips.

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use mmsafe_local::models::{catalog, zip, Manager};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

/// `package -> (version, wheel bytes)`.
type Wheels = Arc<HashMap<String, (String, Vec<u8>)>>;

/// `(member path, bytes)` of one wheel.
type Members = Vec<(String, Vec<u8>)>;

/// Wheels holding the cached files of `models`, one per package, or `None`
/// when a file is not in the cache.
fn wheels_from_cache(models: &[&str]) -> Option<HashMap<String, (String, Vec<u8>)>> {
    let manager = Manager::from_env().ok()?;
    let mut members: HashMap<String, (String, Members)> = HashMap::new();
    for name in models {
        let spec = catalog::find(name)?;
        for file in &spec.files {
            // Derived files (re-quantized) differ from their wheel member.
            if file.derive.is_some() {
                return None;
            }
            let bytes = std::fs::read(manager.file_path(&spec, file)).ok()?;
            let entry = members
                .entry(file.wheel.package.clone())
                .or_insert_with(|| (file.wheel.version.clone(), Vec::new()));
            entry.1.push((file.wheel.member.clone(), bytes));
        }
    }
    members
        .into_iter()
        .map(|(package, (version, files))| {
            let refs: Vec<(&str, &[u8], bool)> = files
                .iter()
                .map(|(m, b)| (m.as_str(), b.as_slice(), false))
                .collect();
            let wheel = zip::build_archive(&refs).ok()?;
            Some((package, (version, wheel)))
        })
        .collect()
}

/// A loopback registry serving `wheels`; returns its base URL.
async fn serve_registry(wheels: Wheels) -> String {
    async fn json_api(
        State((wheels, base)): State<(Wheels, String)>,
        UrlPath(package): UrlPath<String>,
    ) -> axum::response::Response {
        let Some((version, _)) = wheels.get(&package) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let filename = format!("{}-{version}-py3-none-any.whl", package.replace('-', "_"));
        axum::Json(serde_json::json!({
            "info": { "version": version },
            "urls": [{ "filename": filename, "url": format!("{base}/files/{package}") }],
        }))
        .into_response()
    }
    async fn wheel(
        State((wheels, _)): State<(Wheels, String)>,
        UrlPath(package): UrlPath<String>,
    ) -> axum::response::Response {
        match wheels.get(&package) {
            Some((_, bytes)) => bytes.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/pypi/{package}/json", get(json_api))
        .route("/files/{package}", get(wheel))
        .with_state((wheels, base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn mmsafe(dir: &Path, registry: &str, models_dir: &Path, offline: bool, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env("MMSAFE_MODELS_DIR", models_dir)
        .env("MMSAFE_PYPI_URL", registry)
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_CONFIG_FILE")
        .env_remove("MMSAFE_STORE");
    if offline {
        c.env("MMSAFE_OFFLINE", "1");
    } else {
        c.env_remove("MMSAFE_OFFLINE");
    }
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_judge_and_guard_preset_download_on_first_use() {
    let Some(wheels) = wheels_from_cache(&[catalog::MINILM, catalog::PPOCR]) else {
        eprintln!(
            "SKIPPED first_use_download: MiniLM and PP-OCR are not in the model cache; run `mmsafe models pull all` (CI does)"
        );
        return;
    };
    let registry = serve_registry(Arc::new(wheels)).await;
    let dir = tempfile::tempdir().unwrap();
    let replies = dir.path().join("replies.jsonl");
    std::fs::write(
        &replies,
        "{\"id\":\"a\",\"request\":\"How do I bake bread?\",\"response\":\"I'm sorry, but I can't help with that.\"}\n",
    )
    .unwrap();

    // Offline and empty: each command names the model it misses.
    let empty = dir.path().join("offline-models");
    let judge = ["judge", "--input", "replies.jsonl", "--judge", "classifier"];
    let out = tokio::task::spawn_blocking({
        let (d, r, e) = (dir.path().to_path_buf(), registry.clone(), empty.clone());
        move || mmsafe(&d, &r, &e, true, &judge).output().unwrap()
    })
    .await
    .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "offline judge must fail: {err}");
    assert!(err.contains(catalog::MINILM), "{err}");
    assert!(!empty.join(catalog::MINILM).exists());

    // Online: the judge pulls MiniLM from the registry, then judges.
    let models = dir.path().join("models");
    let out = tokio::task::spawn_blocking({
        let (d, r, m) = (dir.path().to_path_buf(), registry.clone(), models.clone());
        move || mmsafe(&d, &r, &m, false, &judge).output().unwrap()
    })
    .await
    .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("first use of `{}`", catalog::MINILM)),
        "{err}"
    );
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["id"], "a");
    assert!(models
        .join(catalog::MINILM)
        .join(catalog::MINILM_WEIGHTS)
        .is_file());

    // The guard preset needs OCR too: pulled on first use, MiniLM reused.
    let guard = [
        "guard",
        "check",
        "--policy",
        "balanced",
        "--prompt",
        "What is the capital of France?",
        "--json",
    ];
    let out = tokio::task::spawn_blocking({
        let (d, r, m) = (dir.path().to_path_buf(), registry.clone(), models.clone());
        move || mmsafe(&d, &r, &m, false, &guard).output().unwrap()
    })
    .await
    .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("first use of `{}`", catalog::PPOCR)),
        "{err}"
    );
    assert!(
        !err.contains(&format!("first use of `{}`", catalog::MINILM)),
        "MiniLM was already there: {err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["decision"], "allow", "{report}");
}
