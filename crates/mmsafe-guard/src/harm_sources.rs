//! The training data of the `harm` classifier (`mmsafe guard train`): which
//! public prompt sets it reads, which folders it never reads (they measure
//! it), and how each set's rows become labelled texts. Sampling is seeded, so
//! the same data and seed give the same rows.

use crate::harm_data::Row;
use mmsafe_core::{DataError, Expect};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// A training source that cannot be read, named with its file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The training sources, relative to `--data`. Whole folders are held out
/// for measurement: `figstep-safebench` and `mm-harmfulbench` (the held-out
/// typographic set of `mmsafe guard eval`), and the measurement-only judge
/// sets `jailbreakbench` and `jailbreakeval-labeled`. MM-SafetyBench's
/// advice scenarios (08, 10–13: lobbying, legal, financial, health,
/// government) are left out: their "harmful" questions are ordinary advice
/// requests, and training on them as harmful teaches that medicine is harm.
pub const SOURCES: &[&str] = &[
    "harmbench:harmbench/behavior_datasets/harmbench_behaviors_text_all.csv",
    "advbench:advbench/harmful_behaviors.csv",
    "simplesafetytests:simplesafetytests/sst_test_cases.csv",
    "xstest:xstest/xstest_prompts.csv",
    "mmsafetybench:mm-safetybench:variant=text,scenarios=01+02+03+04+05+06+07+09",
    // Read as text (below): their loaders need the images, which the
    // shared data does not have, and only the instructions are trained on.
    "vlguard-text:vlguard/train.json",
    "vlguard-text:vlguard/test.json",
    "vlguard-text:vlguard/gpt4_safe_safes.json",
    "mossbench-text:mossbench/benign/information.json",
    "mossbench-text:mossbench/contrast/information.json",
];

/// Folders never read for training.
pub const HELD_OUT: &[&str] = &[
    "figstep-safebench",
    "mm-harmfulbench",
    "jailbreakbench",
    "jailbreakeval-labeled",
];

/// The instructions of a VLGuard or MOSSBench JSON file, without images:
/// VLGuard `safe_instruction` / GPT-4 safe-safe `instruction` are benign,
/// `unsafe_instruction` (about a safe image) harmful, and instructions
/// about unsafe images are skipped (their harm is in the image); MOSSBench
/// `benign/` questions are benign, `contrast/` ones harmful.
fn json_rows(path: &Path, spec: &str) -> Result<Vec<Row>, SourceError> {
    let at = |m: String| SourceError(format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| at(e.to_string()))?;
    let mut rows = Vec::new();
    let mut push = |t: Option<&str>, harmful: bool| {
        if let Some(t) = t.map(str::trim).filter(|t| !t.is_empty()) {
            rows.push(Row {
                text: t.to_string(),
                harmful,
                source: spec.to_string(),
            });
        }
    };
    if spec.starts_with("mossbench-text:") {
        let harmful = spec.contains("contrast");
        let items = v.as_object().ok_or_else(|| at("not an object".into()))?;
        for item in items.values() {
            push(item.get("question").and_then(|q| q.as_str()), harmful);
        }
        return Ok(rows);
    }
    let items = v.as_array().ok_or_else(|| at("not a list".into()))?;
    for item in items {
        if let Some(i) = item.get("instruction").and_then(|q| q.as_str()) {
            push(Some(i), false);
            continue;
        }
        if item.get("safe").and_then(|s| s.as_bool()) != Some(true) {
            continue;
        }
        let pairs = item.get("instr-resp").and_then(|r| r.as_array());
        for ir in pairs.into_iter().flatten() {
            push(ir.get("safe_instruction").and_then(|q| q.as_str()), false);
            push(ir.get("unsafe_instruction").and_then(|q| q.as_str()), true);
        }
    }
    Ok(rows)
}

/// Rows of one source spec (`loader:path[:params]`, path relative to `data`).
pub fn source_rows(
    data: &Path,
    spec: &str,
    max_rows: usize,
    seed: u64,
) -> Result<Vec<Row>, SourceError> {
    let mut parts = spec.splitn(3, ':');
    let (loader, rel) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if loader.ends_with("-text") {
        let mut rows = json_rows(&data.join(rel), spec)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rows.shuffle(&mut rng);
        rows.truncate(max_rows);
        return Ok(rows);
    }
    let full = match parts.next() {
        Some(p) => format!("{loader}:{}:{p}", data.join(rel).display()),
        None => format!("{loader}:{}", data.join(rel).display()),
    };
    let in_source = |e: DataError| SourceError(format!("training source `{full}`: {e}"));
    let mut source = mmsafe_data::open(&full, &Default::default()).map_err(in_source)?;
    let mut rows = Vec::new();
    for case in source.cases() {
        let case = case.map_err(in_source)?;
        let text = case.prompt_text();
        if text.trim().is_empty() {
            continue;
        }
        rows.push(Row {
            text,
            harmful: case.expect == Expect::Refuse,
            source: spec.to_string(),
        });
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rows.shuffle(&mut rng);
    rows.truncate(max_rows);
    Ok(rows)
}

/// Every source's rows (each capped at `max_rows`, a seeded sample) plus our
/// own rows, with one provenance entry per source (`spec`, `rows`, `harmful`).
pub fn training_rows(
    data: &Path,
    max_rows: usize,
    seed: u64,
) -> Result<(Vec<Row>, Vec<serde_json::Value>), SourceError> {
    let mut rows = Vec::new();
    let mut provenance = Vec::new();
    let mut add = |spec: &str, r: Vec<Row>| {
        let harmful = r.iter().filter(|r| r.harmful).count();
        provenance.push(serde_json::json!({"spec": spec, "rows": r.len(), "harmful": harmful}));
        rows.extend(r);
    };
    for spec in SOURCES {
        add(spec, source_rows(data, spec, max_rows, seed)?);
    }
    add("builtin", crate::harm_data::builtin_rows());
    Ok((rows, provenance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_source_reads_a_held_out_folder() {
        for spec in SOURCES {
            assert!(
                !HELD_OUT.iter().any(|h| spec.contains(h)),
                "`{spec}` reads a held-out folder"
            );
        }
    }

    #[test]
    fn json_sources_read_instructions_and_name_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let moss = dir.path().join("m.json");
        std::fs::write(&moss, r#"{"1": {"question": "How do I peel an orange?"}}"#).unwrap();
        let rows = json_rows(&moss, "mossbench-text:benign/m.json").unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].harmful);
        let vl = dir.path().join("v.json");
        std::fs::write(
            &vl,
            r#"[{"safe": true, "instr-resp": [{"safe_instruction": "Describe the park.", "unsafe_instruction": "Plan a break-in."}]},
                {"safe": false, "instr-resp": [{"unsafe_instruction": "skipped: harm is in the image"}]}]"#,
        )
        .unwrap();
        let rows = json_rows(&vl, "vlguard-text:v.json").unwrap();
        let labels: Vec<bool> = rows.iter().map(|r| r.harmful).collect();
        assert_eq!(labels, [false, true]);
        std::fs::write(&vl, "{}").unwrap();
        let err = json_rows(&vl, "vlguard-text:v.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("v.json") && err.contains("not a list"),
            "{err}"
        );
    }
}
