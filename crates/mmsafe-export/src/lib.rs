//! Training-time alignment data built from runs: SFT refusal data and preference pairs.
//!
//! Red-team runs already hold what alignment needs: harmful prompts a model
//! answered (attack successes) and benign prompts it refused (over-refusals).
//! This crate turns them into JSONL for fine-tuning, in the spirit of VLGuard
//! (refusals mixed with helpful answers so safety does not cost helpfulness):
//!
//! - [`Task::Sft`]: harmful + complied → our refusal template for the hazard;
//!   benign + refused → a judged complied answer to the same base case from
//!   any given run (never an invented one); with `include_benign`, benign +
//!   complied → that answer.
//! - [`Task::Dpo`]: harmful → (a judged refusal or the template, the complied
//!   response); benign → (a complied answer, the over-refusal).
//!
//! Pipeline: [`Pool::load`] (read and label every attempt) → [`select()`]
//! (examples, skips with reasons, dedup, sampling) → [`write`] (render, images
//! by sha256, atomic files). [`export`] runs all three.

mod error;
mod label;
mod pool;
mod render;
mod select;
mod templates;

pub use error::ExportError;
pub use label::{resolve, JudgeLabel, JudgeRule, Judged, NotSelected, SkipReason};
pub use pool::{Item, Pool, Reply};
pub use render::Format;
pub use select::{
    select, Answer, Kind, Origin, Record, ResponseRef, SelectOptions, Selection, Skipped, Target,
    Task,
};
pub use templates::{TemplateChoice, Templates};

use render::{render, tmp_sibling, ImageSink};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

/// Everything `mmsafe export sft|dpo` needs besides the store.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Run queries: id, name, unique id prefix or `latest`.
    pub runs: Vec<String>,
    /// `--judge J`; `None` means all judges must agree.
    pub judge: Option<String>,
    pub select: SelectOptions,
    pub format: Format,
    /// Folder for image files (`llava`, `sharegpt`).
    pub images: Option<PathBuf>,
    /// Include the provenance `meta` object in each line.
    pub meta: bool,
}

/// What an export produced; printed as the summary (never any content).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counts {
    pub task: Task,
    pub format: Format,
    pub runs: Vec<String>,
    pub attempts: u64,
    pub emitted: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Attempts that are not material for this export (see [`NotSelected`]).
    pub not_selected: BTreeMap<String, u64>,
    /// Where the answers (SFT) or `chosen` sides (DPO) came from: `template`
    /// or `response`.
    pub answers_from: BTreeMap<String, u64>,
    /// Distinct images referenced by the emitted examples.
    pub images: u64,
    /// Image files this export wrote (identical existing files are kept).
    pub images_written: u64,
}

/// Counts for a selection before writing (images are filled in by [`write`]).
pub fn counts(task: Task, format: Format, runs: &[String], sel: &Selection) -> Counts {
    let mut by_kind = BTreeMap::new();
    let mut answers_from = BTreeMap::new();
    let mut images = HashSet::new();
    for r in &sel.records {
        *by_kind.entry(r.kind.as_str().to_string()).or_insert(0) += 1;
        let side = match &r.target {
            Target::Sft { answer } => answer,
            Target::Dpo { chosen, .. } => chosen,
        };
        let from = match side {
            Answer::Template(_) => "template",
            Answer::Response(_) => "response",
        };
        *answers_from.entry(from.to_string()).or_insert(0) += 1;
        images.extend(r.prompt.images().map(|i| i.sha256().to_string()));
    }
    let mut skipped_by_reason = BTreeMap::new();
    for s in &sel.skipped {
        *skipped_by_reason
            .entry(s.reason.as_str().to_string())
            .or_insert(0) += 1;
    }
    Counts {
        task,
        format,
        runs: runs.to_vec(),
        attempts: sel.attempts,
        emitted: sel.records.len() as u64,
        by_kind,
        skipped: sel.skipped.len() as u64,
        skipped_by_reason,
        not_selected: sel
            .not_selected
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), *v))
            .collect(),
        answers_from,
        images: images.len() as u64,
        images_written: 0,
    }
}

/// Load, select and write: the whole export. `skipped_out` gets one JSON
/// line per skipped attempt (ids and reason, no content).
pub fn export(
    store: &mmsafe_store::Store,
    opts: &ExportOptions,
    out: &Path,
    skipped_out: Option<&Path>,
) -> Result<Counts, ExportError> {
    let rule = match &opts.judge {
        Some(j) => JudgeRule::Only(j.clone()),
        None => JudgeRule::Agree,
    };
    let pool = Pool::load(store, &opts.runs, &rule)?;
    let sel = select(&pool, &opts.select);
    let run_ids: Vec<String> = pool.runs.iter().map(|r| r.id.clone()).collect();
    let mut c = counts(opts.select.task, opts.format, &run_ids, &sel);
    c.images_written = write(&sel, opts, out, skipped_out)?;
    Ok(c)
}

/// Render `sel` to `out` (JSONL) and, if asked, the skipped report; returns
/// how many image files were written. Files appear atomically: on error no
/// partial output is left behind.
pub fn write(
    sel: &Selection,
    opts: &ExportOptions,
    out: &Path,
    skipped_out: Option<&Path>,
) -> Result<u64, ExportError> {
    let has_images = sel
        .records
        .iter()
        .any(|r| r.prompt.images().next().is_some());
    if !opts.format.writes_image_files() && opts.images.is_some() {
        return Err(ExportError::ImagesDirUnused);
    }
    if skipped_out == Some(out) {
        return Err(ExportError::SamePath {
            path: out.to_path_buf(),
        });
    }
    let mut sink = match (&opts.images, opts.format.writes_image_files()) {
        (Some(dir), true) => ImageSink::dir(dir),
        (None, true) if has_images => {
            return Err(ExportError::ImagesDirRequired {
                format: opts.format.as_str(),
            })
        }
        _ => ImageSink::Inline,
    };
    write_lines(out, sel.records.iter(), |r| {
        render(r, opts.format, &mut sink, opts.meta)
    })?;
    if let Some(path) = skipped_out {
        write_lines(path, sel.skipped.iter(), |s| {
            serde_json::to_value(s).map_err(|e| ExportError::Encode {
                what: format!("skipped attempt {}", s.attempt_key),
                message: e.to_string(),
            })
        })?;
    }
    Ok(sink.written())
}

/// The default skipped-report path: `x.jsonl` → `x.skipped.jsonl`.
pub fn skipped_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name);
    out.with_file_name(format!("{stem}.skipped.jsonl"))
}

fn write_lines<T>(
    path: &Path,
    items: impl Iterator<Item = T>,
    mut line: impl FnMut(T) -> Result<serde_json::Value, ExportError>,
) -> Result<(), ExportError> {
    let tmp = tmp_sibling(path);
    let file = std::fs::File::create(&tmp).map_err(|e| ExportError::io("create", path, e))?;
    let result = (|| {
        let mut w = BufWriter::new(file);
        for it in items {
            let v = line(it)?;
            serde_json::to_writer(&mut w, &v).map_err(|e| ExportError::Encode {
                what: path.display().to_string(),
                message: e.to_string(),
            })?;
            w.write_all(b"\n")
                .map_err(|e| ExportError::io("write", path, e))?;
        }
        let f = w
            .into_inner()
            .map_err(|e| ExportError::io("write", path, e.into_error()))?;
        f.sync_all()
            .map_err(|e| ExportError::io("write", path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ExportError::io("write", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
