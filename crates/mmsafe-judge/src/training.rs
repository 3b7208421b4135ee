//! The rows `mmsafe judge train` learns from and the provenance written with
//! what it learns: which label files (measurement-only sets refused), which
//! rows (held-out share and per-file caps, a seeded sample), their weights,
//! and one provenance entry per file.

use crate::labels::{self, LabelFormat, Labeled};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// A bad value of a training option (`--data`, `--weight`, `--max-rows`, …).
    #[error("{0}")]
    Option(String),
    /// A file that cannot be read as labelled data.
    #[error("{0}")]
    Data(String),
}

/// Formats training accepts: the measurement-only sets are refused by name.
pub fn train_format(name: &str) -> Result<LabelFormat, TrainingError> {
    match name {
        "jbb" | "jailbreakbench" | "jailbreakeval" => Err(TrainingError::Option(format!(
            "`{name}` is a measurement-only label set: train on harmbench, gptfuzz, xstest or jsonl data"
        ))),
        _ => LabelFormat::parse(name).ok_or_else(|| {
            TrainingError::Option(format!(
                "unknown training data format `{name}` (expected harmbench, gptfuzz, xstest or jsonl)"
            ))
        }),
    }
}

/// `path` itself, or every `.csv`/`.json`/`.jsonl` in it when it is a folder
/// (sorted, so the rows come in a stable order).
pub fn data_files(path: &Path) -> Result<Vec<PathBuf>, TrainingError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| TrainingError::Data(format!("reading {}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "csv" | "json" | "jsonl"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(TrainingError::Data(format!(
            "{}: no .csv, .json or .jsonl file in this directory",
            path.display()
        )));
    }
    Ok(files)
}

/// `FORMAT=W` loss weights by format name; measurement sets are refused.
pub fn parse_weights(specs: &[String]) -> Result<HashMap<&'static str, f32>, TrainingError> {
    let mut out = HashMap::new();
    for spec in specs {
        let (name, w) = spec.split_once('=').ok_or_else(|| {
            TrainingError::Option(format!("--weight `{spec}`: expected FORMAT=W"))
        })?;
        let w: f32 = w
            .parse()
            .ok()
            .filter(|w: &f32| w.is_finite() && *w > 0.0)
            .ok_or_else(|| {
                TrainingError::Option(format!("--weight `{spec}`: W must be a positive number"))
            })?;
        out.insert(train_format(name)?.name(), w);
    }
    Ok(out)
}

/// `NAME=N` row caps by file name or format name.
pub fn parse_max_rows(specs: &[String]) -> Result<HashMap<String, usize>, TrainingError> {
    let mut out = HashMap::new();
    for spec in specs {
        let (name, n) = spec.split_once('=').ok_or_else(|| {
            TrainingError::Option(format!("--max-rows `{spec}`: expected NAME=N"))
        })?;
        let n: usize = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            TrainingError::Option(format!("--max-rows `{spec}`: N must be a positive integer"))
        })?;
        out.insert(name.to_string(), n);
    }
    Ok(out)
}

/// A seeded sample of `n` rows, in their original order.
pub fn sample_rows(rows: Vec<Labeled>, n: usize, seed: u64) -> Vec<Labeled> {
    use rand::seq::SliceRandom as _;
    use rand::SeedableRng as _;
    if rows.len() <= n {
        return rows;
    }
    let mut picked: Vec<usize> = (0..rows.len()).collect();
    picked.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut keep = vec![false; rows.len()];
    for i in &picked[..n] {
        keep[*i] = true;
    }
    rows.into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// Which rows to train on.
#[derive(Debug, Clone, Default)]
pub struct RowSelection {
    /// `FORMAT:PATH` each; a folder loads every data file in it.
    pub data: Vec<String>,
    /// Share of groups (behaviours, questions) held out for `judge eval --holdout`.
    pub holdout: f64,
    /// `NAME=N` caps (file or format name).
    pub max_rows: Vec<String>,
    /// `FORMAT=W` loss weights.
    pub weight: Vec<String>,
    /// Seed of the row sample under a cap.
    pub seed: u64,
}

/// What one data file contributed.
#[derive(Debug, Clone)]
pub struct FileRows {
    pub path: PathBuf,
    pub rows: usize,
    pub harmful: usize,
    pub held_out: usize,
    /// Left out by a `max_rows` cap.
    pub sampled_out: usize,
}

/// Training rows with their loss weights, and a provenance entry per file.
#[derive(Debug, Clone, Default)]
pub struct TrainingRows {
    pub items: Vec<Labeled>,
    pub weights: Vec<f32>,
    pub sources: Vec<serde_json::Value>,
}

/// Load the selected rows; `on_file` hears about each file as it is read.
pub fn load_rows(
    sel: &RowSelection,
    mut on_file: impl FnMut(&FileRows),
) -> Result<TrainingRows, TrainingError> {
    let format_weights = parse_weights(&sel.weight)?;
    let caps = parse_max_rows(&sel.max_rows)?;
    let mut out = TrainingRows::default();
    for spec in &sel.data {
        let (name, path) = spec.split_once(':').ok_or_else(|| {
            TrainingError::Option(format!("--data `{spec}`: expected FORMAT:PATH"))
        })?;
        let format = train_format(name)?;
        for file in data_files(Path::new(path))? {
            let mut rows =
                labels::load(&file, format).map_err(|e| TrainingError::Data(e.to_string()))?;
            let total = rows.len();
            rows.retain(|it| !labels::in_holdout(&it.group, sel.holdout));
            let after_holdout = rows.len();
            let file_name = file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            if let Some(n) = caps.get(&file_name).or_else(|| caps.get(format.name())) {
                rows = sample_rows(rows, *n, sel.seed);
            }
            let harmful = rows.iter().filter(|r| r.harmful()).count();
            let mut source = serde_json::json!({
                "format": format.name(),
                "file": file_name,
                "rows": rows.len(),
                "held_out": total - after_holdout,
                "harmful": harmful,
            });
            // Only when sampling happened, so heads trained before
            // --max-rows existed are still reproduced byte for byte.
            if rows.len() < after_holdout {
                source["sampled_out"] = serde_json::json!(after_holdout - rows.len());
            }
            out.sources.push(source);
            on_file(&FileRows {
                path: file.clone(),
                rows: rows.len(),
                harmful,
                held_out: total - after_holdout,
                sampled_out: after_holdout - rows.len(),
            });
            let w = format_weights.get(format.name()).copied().unwrap_or(1.0);
            out.weights.extend(std::iter::repeat_n(w, rows.len()));
            out.items.extend(rows);
        }
    }
    Ok(out)
}

/// How a head was trained, as its file records it.
#[derive(Debug, Clone)]
pub struct HeadSettings {
    pub hidden: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub drop: Vec<String>,
    pub rule_gate: bool,
}

/// The provenance of a head trained on `rows` selected by `sel`.
pub fn head_provenance(
    rows: &TrainingRows,
    sel: &RowSelection,
    s: &HeadSettings,
) -> serde_json::Value {
    serde_json::json!({
        "data": rows.sources,
        "seed": sel.seed,
        "hidden": s.hidden,
        "epochs": s.epochs,
        "lr": s.lr,
        "weight_decay": s.weight_decay,
        "holdout": sel.holdout,
        "drop": s.drop,
        "weight": sel.weight,
        "rule_gate": s.rule_gate,
        "mmsafe": env!("CARGO_PKG_VERSION"),
    })
}

/// How a cross-encoder was fine-tuned, as its file records it.
#[derive(Debug, Clone)]
pub struct FinetuneSettings {
    pub layers: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup: usize,
    pub batch: usize,
    pub dropout: f32,
    pub clip_norm: f64,
    pub threads: usize,
    /// Windows trained per long reply; recorded only when not 1.
    pub windows: usize,
    /// Tokens per sequence; recorded only when not `default_window_tokens`.
    pub window_tokens: usize,
    pub default_window_tokens: usize,
}

/// The provenance of a cross-encoder fine-tuned on `rows` selected by `sel`.
pub fn finetune_provenance(
    rows: &TrainingRows,
    sel: &RowSelection,
    s: &FinetuneSettings,
) -> serde_json::Value {
    let mut provenance = serde_json::json!({
        "data": rows.sources,
        "seed": sel.seed,
        "finetune_layers": s.layers,
        "epochs": s.epochs,
        "lr": s.lr,
        "weight_decay": s.weight_decay,
        "warmup": s.warmup,
        "batch": s.batch,
        "dropout": s.dropout,
        "clip_norm": s.clip_norm,
        "holdout": sel.holdout,
        "weight": sel.weight,
        "max_rows": sel.max_rows,
        "threads": s.threads,
        "mmsafe": env!("CARGO_PKG_VERSION"),
    });
    // Only when set, so files trained before the option existed are still
    // reproduced byte for byte.
    if s.windows != 1 {
        provenance["train_windows"] = serde_json::json!(s.windows);
    }
    if s.window_tokens != s.default_window_tokens {
        provenance["window_tokens"] = serde_json::json!(s.window_tokens);
    }
    provenance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_sets_are_refused_for_training() {
        for name in ["jbb", "jailbreakbench", "jailbreakeval"] {
            let err = train_format(name).unwrap_err().to_string();
            assert!(err.contains("measurement-only"), "{err}");
        }
        assert_eq!(train_format("gptfuzz").unwrap(), LabelFormat::GptFuzz);
        assert!(matches!(
            train_format("nope"),
            Err(TrainingError::Option(_))
        ));
    }

    #[test]
    fn weights_and_caps_are_checked() {
        let w = parse_weights(&["harmbench=5".into(), "xstest=2".into()]).unwrap();
        assert_eq!((w["harmbench"], w["xstest"]), (5.0, 2.0));
        for bad in ["harmbench", "harmbench=0", "harmbench=x", "jbb=2"] {
            assert!(parse_weights(&[bad.into()]).is_err(), "{bad}");
        }
        let caps = parse_max_rows(&["train.csv=3".into(), "xstest=10".into()]).unwrap();
        assert_eq!((caps["train.csv"], caps["xstest"]), (3, 10));
        for bad in ["train.csv", "train.csv=0", "train.csv=-1", "x=y"] {
            assert!(parse_max_rows(&[bad.into()]).is_err(), "{bad}");
        }
    }

    fn row(i: usize) -> Labeled {
        Labeled {
            location: format!("f:{i}"),
            request: String::new(),
            response: String::new(),
            positive: false,
            group: String::new(),
            harmful_request: None,
            published: Vec::new(),
        }
    }

    #[test]
    fn samples_are_seeded_and_keep_the_original_order() {
        let rows: Vec<Labeled> = (0..10).map(row).collect();
        let a = sample_rows(rows.clone(), 4, 1);
        assert_eq!(a, sample_rows(rows.clone(), 4, 1));
        assert_eq!(a.len(), 4);
        let lines: Vec<&str> = a.iter().map(|r| r.location.as_str()).collect();
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| l[2..].parse::<u32>().unwrap());
        assert_eq!(lines, sorted, "original order kept");
        assert_eq!(sample_rows(rows.clone(), 20, 1), rows);
    }

    #[test]
    fn rows_weights_and_provenance_of_a_capped_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("train.jsonl");
        let mut body = String::new();
        for i in 0..6 {
            body.push_str(&format!(
                "{{\"request\":\"q{i}\",\"response\":\"r{i}\",\"label\":{}}}\n",
                i % 2
            ));
        }
        std::fs::write(&f, body).unwrap();
        let sel = RowSelection {
            data: vec![format!("jsonl:{}", f.display())],
            max_rows: vec!["train.jsonl=4".into()],
            weight: vec!["jsonl=2".into()],
            ..Default::default()
        };
        let mut seen = Vec::new();
        let rows = load_rows(&sel, |r| seen.push((r.rows, r.sampled_out))).unwrap();
        assert_eq!(seen, [(4, 2)]);
        assert_eq!(rows.items.len(), 4);
        assert_eq!(rows.weights, [2.0; 4]);
        assert_eq!(rows.sources[0]["sampled_out"], 2);
        let p = head_provenance(
            &rows,
            &sel,
            &HeadSettings {
                hidden: 16,
                epochs: 1,
                lr: 0.1,
                weight_decay: 0.0,
                drop: vec![],
                rule_gate: false,
            },
        );
        assert_eq!(p["data"][0]["file"], "train.jsonl");
        assert_eq!(p["weight"][0], "jsonl=2");
        let bad = RowSelection {
            data: vec!["jbb:x.csv".into()],
            ..Default::default()
        };
        assert!(matches!(
            load_rows(&bad, |_| {}),
            Err(TrainingError::Option(_))
        ));
    }
}
