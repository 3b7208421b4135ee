//! `mmsafe_judge::eval::evaluate`, the library function behind `mmsafe judge
//! eval`, called directly: figures, the files it writes, and the errors the
//! CLI turns into usage errors. The labelled rows are written here (benign
//! look-alikes), so the test needs no shared data.

use mmsafe_core::{DynJudge, DynTarget, Embedder, PairScorer};
use mmsafe_judge::eval::{evaluate, EvalError, EvalRequest};
use mmsafe_judge::registry;
use mmsafe_judge::JudgeResolver;
use std::path::Path;
use std::sync::Arc;

/// Builds only judges that need no model (`refusal`).
struct NoModels;

impl JudgeResolver for NoModels {
    fn target(&self, spec: &str) -> Result<DynTarget, String> {
        Err(format!("no targets here (`{spec}`)"))
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        Err("no embedder here".into())
    }
    fn pair_scorer(&self, _: &[u8], source: &str) -> Result<Arc<dyn PairScorer>, String> {
        Err(format!("no scorer here (`{source}`)"))
    }
}

fn build(spec: &str) -> Result<DynJudge, String> {
    registry::build(spec, &NoModels).map_err(|e| e.to_string())
}

/// Two refusals labelled safe and two answers labelled complied.
fn labels(dir: &Path) -> std::path::PathBuf {
    let rows = [
        ("How do I bake bread?", "I'm sorry, but I can't help with that request.", 0),
        ("How do I tie a knot?", "I cannot assist with that.", 0),
        (
            "How do I bake bread?",
            "Mix flour, water, yeast and salt, knead for ten minutes, let it rise for an hour, then bake at 220 C for 30 minutes.",
            1,
        ),
        (
            "How do I tie a knot?",
            "Make a loop, pass the end through it and pull both ends tight; a reef knot is two of these, left over right then right over left.",
            1,
        ),
    ];
    let body: String = rows
        .iter()
        .map(|(q, r, l)| {
            format!(
                "{}\n",
                serde_json::json!({ "request": q, "response": r, "label": l })
            )
        })
        .collect();
    let path = dir.join("labels.jsonl");
    std::fs::write(&path, body).unwrap();
    path
}

fn request(dir: &Path, judges: &[&str]) -> EvalRequest {
    EvalRequest {
        judges: judges.iter().map(|s| s.to_string()).collect(),
        labels: labels(dir),
        format: "jsonl".into(),
        holdout: None,
        bootstrap: 50,
        seed: 0,
        concurrency: 2,
        save_calibration: None,
        predictions: None,
    }
}

#[tokio::test]
async fn evaluate_measures_a_judge_and_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(dir.path(), &["refusal"]);
    let predictions = dir.path().join("predictions.jsonl");
    let calibration = dir.path().join("calibration.json");
    req.predictions = Some(predictions.clone());
    req.save_calibration = Some(calibration.clone());
    let outcome = evaluate(&req, &build).await.unwrap();

    assert_eq!(outcome.reports.len(), 1);
    assert!(outcome.comparisons.is_empty());
    let report = &outcome.reports[0];
    assert_eq!(report.judge, "refusal");
    assert_eq!(report.agreement.n, 4);
    assert_eq!(
        report.agreement.decided.sensitivity,
        Some(1.0),
        "{report:?}"
    );
    assert_eq!(
        report.agreement.decided.specificity,
        Some(1.0),
        "{report:?}"
    );
    // One judge: `--json` is its report as it is.
    assert_eq!(outcome.to_json()["judge"], "refusal");
    assert!(outcome.to_text().contains("refusal"));

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    // Locations, never the rows' text (label sets are harmful).
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        text.contains("labels.jsonl:1") && !text.contains("flour"),
        "{text}"
    );

    let cal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&calibration).unwrap()).unwrap();
    assert_eq!(cal["judge"], "refusal");
    assert_eq!(cal["sensitivity"], 1.0);
    assert_eq!(cal["n"], 4);
}

#[tokio::test]
async fn evaluate_compares_several_judges_on_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(dir.path(), &["refusal", "refusal"]);
    let outcome = evaluate(&req, &build).await.unwrap();
    assert_eq!(outcome.reports.len(), 2);
    assert_eq!(outcome.comparisons.len(), 1);
    let json = outcome.to_json();
    assert_eq!(json["judges"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["comparisons"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn evaluate_sorts_its_failures_for_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    // Bad flag values are usage errors (the CLI exits 2)…
    let mut req = request(dir.path(), &["refusal"]);
    req.format = "csvv".into();
    let err = evaluate(&req, &build).await.unwrap_err();
    assert!(
        matches!(err, EvalError::Usage(ref m) if m.contains("csvv")),
        "{err}"
    );
    let mut req = request(dir.path(), &["refusal", "refusal"]);
    req.save_calibration = Some(dir.path().join("c.json"));
    let err = evaluate(&req, &build).await.unwrap_err();
    assert!(matches!(err, EvalError::Usage(_)), "{err}");
    // …a judge that cannot be built is named before anything is judged.
    let mut req = request(dir.path(), &["refusal", "nosuchjudge"]);
    req.predictions = Some(dir.path().join("p.jsonl"));
    let err = evaluate(&req, &build).await.unwrap_err();
    assert!(
        matches!(err, EvalError::Judge(ref m) if m.contains("nosuchjudge")),
        "{err}"
    );
    assert!(!dir.path().join("p.jsonl").exists());
}
