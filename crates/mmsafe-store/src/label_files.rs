//! Label files: `mmsafe labels export` writes a run's human labels in the
//! formats `judge eval` and `judge train` read (JailbreakBench's CSV, JSONL);
//! `mmsafe labels import` reads them back (or any file with the same columns).
//!
//! One exported row per labelled attempt: the annotators' majority label
//! (attempts whose labels tie or are `unclear` are left out, they teach a
//! judge nothing). `human_majority` / `label` is 1 / true for an attack
//! success (`complied`, `harmful-complied`) as in JailbreakBench; the exact
//! label travels in `human_label`.

use crate::labels::{HumanLabel, NewLabel};
use crate::{Result, Store, StoreError};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFileFormat {
    /// JailbreakBench `judge-comparison.csv` columns (`goal`,
    /// `target_response`, `human_majority`) plus `attempt_key`, `human_label`.
    Jbb,
    /// One JSON object per line (`request`, `response`, `label`, …).
    Jsonl,
}

impl LabelFileFormat {
    pub const NAMES: &'static str = "jbb|jsonl";
    pub fn parse(s: &str) -> Option<LabelFileFormat> {
        match s {
            "jbb" | "jailbreakbench" => Some(LabelFileFormat::Jbb),
            "jsonl" => Some(LabelFileFormat::Jsonl),
            _ => None,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportStats {
    pub rows: u64,
    /// Labelled attempts left out: a tie, `unclear`, or an attempt without reply.
    pub skipped: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonlRow {
    attempt_key: String,
    #[serde(default)]
    request: String,
    #[serde(default)]
    response: String,
    /// Attack success (harmful compliance), as `judge eval` reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    human_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    annotators: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotator: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    note: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    hazard: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    attack: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    defense: String,
}

const JBB_HEADER: [&str; 9] = [
    "goal",
    "target_response",
    "human_majority",
    "attempt_key",
    "human_label",
    "annotators",
    "hazard",
    "attack",
    "defense",
];

/// The user-visible text of a stored case body (its text parts, in order).
fn request_text(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for m in v["messages"].as_array().into_iter().flatten() {
        for p in m["content"].as_array().into_iter().flatten() {
            if let Some(t) = p["text"].as_str() {
                parts.push(t.to_string());
            }
        }
    }
    parts.join("\n")
}

fn file_err(line: u64, message: impl Into<String>) -> StoreError {
    StoreError::LabelFile {
        path: String::new(),
        line,
        message: message.into(),
    }
}

impl Store {
    /// Write the labels of `run_id` to `out`; `annotator` restricts them to
    /// one person (default: the majority of everyone's).
    pub fn export_labels(
        &self,
        run_id: &str,
        format: LabelFileFormat,
        annotator: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<ExportStats> {
        self.export_inner(run_id, format, annotator, out)
            .map_err(|e| match e {
                StoreError::LabelFile { line, message, .. } => StoreError::LabelFile {
                    path: "export".into(),
                    line,
                    message,
                },
                e => e.at(&self.display),
            })
    }

    fn export_inner(
        &self,
        run_id: &str,
        format: LabelFileFormat,
        annotator: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<ExportStats> {
        let labels = self.labels(run_id)?;
        let mut by_key: BTreeMap<String, Vec<&crate::StoredLabel>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for l in labels
            .iter()
            .filter(|l| annotator.is_none_or(|a| a == l.annotator))
        {
            if !by_key.contains_key(&l.attempt_key) {
                order.push(l.attempt_key.clone());
            }
            by_key.entry(l.attempt_key.clone()).or_default().push(l);
        }
        let mut st = self.conn.prepare_cached(
            "SELECT a.response_text, c.body, c.hazard, a.attack, a.defense
             FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
             WHERE a.key = ?1",
        )?;
        let io = |e: std::io::Error| file_err(0, format!("cannot write: {e}"));
        let mut csv_out = match format {
            LabelFileFormat::Jbb => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(JBB_HEADER)
                    .map_err(|e| file_err(0, e.to_string()))?;
                Some(w)
            }
            LabelFileFormat::Jsonl => None,
        };
        let mut stats = ExportStats::default();
        for key in order {
            let ls = &by_key[&key];
            let Some(label) = majority(ls.iter().map(|l| l.label)) else {
                stats.skipped += 1;
                continue;
            };
            let Some(success) = label.success() else {
                stats.skipped += 1;
                continue;
            };
            let (response, body, hazard, attack, defense): (
                Option<String>,
                String,
                String,
                String,
                String,
            ) = st.query_row([&key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            let Some(response) = response else {
                stats.skipped += 1;
                continue;
            };
            let request = request_text(&body);
            let annotators: Vec<String> = ls.iter().map(|l| l.annotator.clone()).collect();
            match csv_out.as_mut() {
                Some(w) => w
                    .write_record([
                        request.as_str(),
                        response.as_str(),
                        if success { "1" } else { "0" },
                        key.as_str(),
                        label.as_str(),
                        annotators.join(";").as_str(),
                        hazard.as_str(),
                        attack.as_str(),
                        defense.as_str(),
                    ])
                    .map_err(|e| file_err(0, e.to_string()))?,
                None => {
                    let row = JsonlRow {
                        attempt_key: key.clone(),
                        request,
                        response,
                        label: Some(serde_json::Value::Bool(success)),
                        human_label: Some(label.as_str().to_string()),
                        annotators,
                        annotator: None,
                        note: ls
                            .iter()
                            .filter(|l| !l.note.is_empty())
                            .map(|l| format!("{}: {}", l.annotator, l.note))
                            .collect::<Vec<_>>()
                            .join("\n"),
                        hazard,
                        attack,
                        defense,
                    };
                    let line =
                        serde_json::to_string(&row).map_err(|e| file_err(0, e.to_string()))?;
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            stats.rows += 1;
        }
        if let Some(w) = csv_out {
            let bytes = w.into_inner().map_err(|e| file_err(0, e.to_string()))?;
            out.write_all(&bytes).map_err(io)?;
        }
        Ok(stats)
    }

    /// Read labels for `run_id` from a file written by [`Store::export_labels`]
    /// (or with the same columns). Each row needs `attempt_key` and a label
    /// (`human_label`, else `human_majority`/`label` 1 → complied, 0 →
    /// refused); the annotator is the row's `annotator` (JSONL) or
    /// `default_annotator`. Nothing is written unless every row is valid;
    /// errors name `name` (the file) and the line.
    pub fn import_labels(
        &mut self,
        run_id: &str,
        format: LabelFileFormat,
        input: &mut dyn Read,
        name: &str,
        default_annotator: Option<&str>,
    ) -> Result<usize> {
        let display = self.display.clone();
        let named = |e: StoreError| match e {
            StoreError::LabelFile { line, message, .. } => StoreError::LabelFile {
                path: name.to_string(),
                line,
                message,
            },
            e => e.at(&display),
        };
        let rows = parse_rows(format, input, default_annotator).map_err(named)?;
        // Resolve every key first so that a bad row names its line.
        for (line, l) in &rows {
            let found: Option<i64> = self
                .conn
                .query_row(
                    "SELECT 1 FROM attempts WHERE key = ?1 AND run_id = ?2",
                    params![l.attempt_key, run_id],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(|e| StoreError::from(e).at(&display))?;
            if found.is_none() {
                return Err(StoreError::LabelFile {
                    path: name.to_string(),
                    line: *line,
                    message: format!("run `{run_id}` has no attempt `{}`", l.attempt_key),
                });
            }
        }
        let labels: Vec<NewLabel> = rows.into_iter().map(|(_, l)| l).collect();
        self.put_labels(run_id, &labels)
    }
}

/// The most frequent label; `None` on a tie for first place.
fn majority(labels: impl Iterator<Item = HumanLabel>) -> Option<HumanLabel> {
    let mut counts: BTreeMap<HumanLabel, u32> = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let max = counts.values().copied().max()?;
    let mut top = counts.into_iter().filter(|(_, c)| *c == max);
    let first = top.next()?.0;
    top.next().is_none().then_some(first)
}

fn label_from(human: Option<&str>, binary: Option<&str>, line: u64) -> Result<HumanLabel> {
    if let Some(h) = human.filter(|h| !h.trim().is_empty()) {
        return HumanLabel::parse(h).ok_or_else(|| {
            file_err(
                line,
                format!("unknown human_label `{h}` (expected {})", HumanLabel::NAMES),
            )
        });
    }
    match binary.map(|b| b.trim().to_ascii_lowercase()).as_deref() {
        Some("1" | "true") => Ok(HumanLabel::Complied),
        Some("0" | "false") => Ok(HumanLabel::Refused),
        Some(other) => Err(file_err(
            line,
            format!("unknown label `{other}` (expected 0 or 1, or a human_label)"),
        )),
        None => Err(file_err(
            line,
            "no label (`human_label`, `human_majority` or `label`)",
        )),
    }
}

fn annotator_from(row: Option<&str>, default: Option<&str>, line: u64) -> Result<String> {
    let name = row
        .filter(|a| !a.trim().is_empty())
        .or(default)
        .ok_or_else(|| file_err(line, "no annotator (give --annotator NAME)"))?;
    if !crate::valid_annotator(name) {
        return Err(file_err(line, format!("bad annotator name {name:?}")));
    }
    Ok(name.trim().to_string())
}

fn parse_rows(
    format: LabelFileFormat,
    input: &mut dyn Read,
    default_annotator: Option<&str>,
) -> Result<Vec<(u64, NewLabel)>> {
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| file_err(0, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    match format {
        LabelFileFormat::Jsonl => {
            for (i, raw) in text.lines().enumerate() {
                let line = i as u64 + 1;
                if raw.trim().is_empty() {
                    continue;
                }
                let row: JsonlRow = serde_json::from_str(raw)
                    .map_err(|e| file_err(line, format!("invalid JSON: {e}")))?;
                let binary = row.label.as_ref().map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                // A `label` holding one of our names is a human label too.
                let human = row.human_label.clone().or_else(|| {
                    binary
                        .as_deref()
                        .and_then(HumanLabel::parse)
                        .map(|l| l.as_str().to_string())
                });
                out.push((
                    line,
                    NewLabel {
                        attempt_key: row.attempt_key.trim().to_ascii_lowercase(),
                        annotator: annotator_from(
                            row.annotator.as_deref(),
                            default_annotator,
                            line,
                        )?,
                        label: label_from(human.as_deref(), binary.as_deref(), line)?,
                        note: row.note,
                        source: "import".into(),
                    },
                ));
            }
        }
        LabelFileFormat::Jbb => {
            let mut r = csv::Reader::from_reader(text.as_bytes());
            let headers = r
                .headers()
                .map_err(|e| file_err(1, format!("bad CSV header: {e}")))?
                .clone();
            let col = |name: &str| headers.iter().position(|h| h == name);
            let key_col = col("attempt_key").ok_or_else(|| {
                file_err(
                    1,
                    "missing column `attempt_key` (rows must name the attempt they label)",
                )
            })?;
            let (human_col, bin_col, ann_col, note_col) = (
                col("human_label"),
                col("human_majority"),
                col("annotator"),
                col("note"),
            );
            for (i, rec) in r.records().enumerate() {
                let line = i as u64 + 2;
                let rec = rec.map_err(|e| file_err(line, format!("bad CSV row: {e}")))?;
                let get = |c: Option<usize>| c.and_then(|c| rec.get(c));
                let key = get(Some(key_col)).unwrap_or_default();
                out.push((
                    line,
                    NewLabel {
                        attempt_key: key.trim().to_ascii_lowercase(),
                        annotator: annotator_from(get(ann_col), default_annotator, line)?,
                        label: label_from(get(human_col), get(bin_col), line)?,
                        note: get(note_col).unwrap_or_default().to_string(),
                        source: "import".into(),
                    },
                ));
            }
        }
    }
    Ok(out)
}
