//! Human-labelled (request, response) sets for calibrating and training judges.
//!
//! Every format is reduced to one shape, [`Labeled`], whose `positive` means
//! "the response is a harmful compliance" (HarmBench, JailbreakBench, GPTFuzz,
//! JailbreakEval) or, for XSTest, "the model fully complied". A judge's
//! `complied` is compared against `positive`, `refused` against negative.

use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One labelled response.
#[derive(Debug, Clone, PartialEq)]
pub struct Labeled {
    /// `file:line` (CSV/JSONL) or `file:behavior#n` (HarmBench JSON).
    pub location: String,
    /// The original request (behaviour, goal or question), used by judges.
    pub request: String,
    pub response: String,
    pub positive: bool,
    /// Items sharing a group (same behaviour/question) go to the same side of
    /// a train/held-out split, so a split never leaks a question.
    pub group: String,
    /// Whether the request itself is harmful, when the file says (XSTest's
    /// `contrast_*` types); training a harm classifier on XSTest needs it,
    /// because complying with a safe prompt is not harmful.
    pub harmful_request: Option<bool>,
    /// Verdicts other judges gave this row, as the file records them
    /// (HarmBench's `cls`, `llama_guard`, `gpt-4-0613`, …; JailbreakBench's
    /// `*_cf` columns): (column, raw value). `judge eval --judge
    /// published:COLUMN` scores them like any judge, on the same rows.
    pub published: Vec<(String, String)>,
}

impl Labeled {
    /// The harm label: a positive on a request known to be safe is a
    /// harmless compliance.
    pub fn harmful(&self) -> bool {
        self.positive && self.harmful_request.unwrap_or(true)
    }
}

/// Stable 64-bit FNV-1a, for splits that must not change across versions.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether an item's group falls in the held-out share `frac` (0..1) of a
/// split: the same groups for every command and run.
pub fn in_holdout(group: &str, frac: f64) -> bool {
    (fnv1a(group) % 10_000) as f64 / 10_000.0 < frac
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFormat {
    /// HarmBench `classifier_val_sets/*_val_set.json` (3 human labels, majority).
    HarmBench,
    /// JailbreakBench `judge-comparison.csv` (`human_majority`).
    Jbb,
    /// XSTest `model_completions/*.csv` (`final_label`; compliance = positive).
    XsTest,
    /// GPTFuzz `responses_labeled/*.csv` (`label`; 1 = jailbroken).
    GptFuzz,
    /// JailbreakEval CSVs (`question`, `answer`, `label`).
    JailbreakEval,
    /// One JSON object per line: `request`/`prompt`/`question`, `response`, `label`.
    Jsonl,
}

impl LabelFormat {
    pub const NAMES: &'static str = "harmbench|jbb|xstest|gptfuzz|jailbreakeval|jsonl";

    pub fn parse(s: &str) -> Option<LabelFormat> {
        Some(match s {
            "harmbench" => LabelFormat::HarmBench,
            "jbb" | "jailbreakbench" => LabelFormat::Jbb,
            "xstest" => LabelFormat::XsTest,
            "gptfuzz" => LabelFormat::GptFuzz,
            "jailbreakeval" => LabelFormat::JailbreakEval,
            "jsonl" => LabelFormat::Jsonl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LabelFormat::HarmBench => "harmbench",
            LabelFormat::Jbb => "jbb",
            LabelFormat::XsTest => "xstest",
            LabelFormat::GptFuzz => "gptfuzz",
            LabelFormat::JailbreakEval => "jailbreakeval",
            LabelFormat::Jsonl => "jsonl",
        }
    }

    /// What a positive label means, for reports.
    pub fn positive_means(self) -> &'static str {
        match self {
            LabelFormat::XsTest => "full compliance",
            _ => "harmful compliance (jailbroken)",
        }
    }
}

impl fmt::Display for LabelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

fn row_err(path: &Path, line: u64, message: impl Into<String>) -> LabelError {
    LabelError::Row {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Load a labelled file in the given format.
pub fn load(path: &Path, format: LabelFormat) -> Result<Vec<Labeled>, LabelError> {
    match format {
        LabelFormat::HarmBench => load_harmbench(path),
        LabelFormat::Jbb => load_csv(path, |row, line| {
            let goal = row.get("goal", line)?;
            let positive = row.binary("human_majority", line)?;
            Ok(Labeled {
                location: String::new(),
                request: goal.to_string(),
                response: row.get("target_response", line)?.to_string(),
                positive,
                group: goal.to_string(),
                harmful_request: None,
                // JailbreakBench names its judges' columns `<judge>_cf`.
                published: row.columns_ending("_cf"),
            })
        }),
        LabelFormat::XsTest => load_csv(path, |row, line| {
            let label = row.get("final_label", line)?;
            let positive = match label.trim() {
                "1_full_compliance" => true,
                // Partial refusals decline part of the request: XSTest's
                // paper counts them with refusals for over-refusal rates.
                "2_full_refusal" | "3_partial_refusal" => false,
                other => {
                    return Err(format!(
                        "unknown value {other:?} in column `final_label` (expected 1_full_compliance, 2_full_refusal or 3_partial_refusal)"
                    ))
                }
            };
            let prompt = row.get("prompt", line)?;
            let harmful_request = row
                .get("type", line)
                .ok()
                .map(|t| t.trim().starts_with("contrast_"));
            Ok(Labeled {
                location: String::new(),
                request: prompt.to_string(),
                response: row.get("completion", line)?.to_string(),
                positive,
                group: prompt.to_string(),
                harmful_request,
                published: Vec::new(),
            })
        }),
        LabelFormat::GptFuzz => {
            let questions = gptfuzz_questions(path)?;
            load_csv(path, |row, line| {
                let q = row.get("question", line)?.trim().to_string();
                let request = questions.get(&q).cloned().unwrap_or_default();
                Ok(Labeled {
                    location: String::new(),
                    request,
                    response: row.get("Response", line)?.to_string(),
                    positive: row.binary("label", line)?,
                    group: format!("gptfuzz-q{q}"),
                    harmful_request: None,
                    published: Vec::new(),
                })
            })
        }
        LabelFormat::JailbreakEval => load_csv(path, |row, line| {
            let q = row.get("question", line)?;
            Ok(Labeled {
                location: String::new(),
                request: q.to_string(),
                response: row.get("answer", line)?.to_string(),
                positive: row.binary("label", line)?,
                group: q.to_string(),
                harmful_request: None,
                published: Vec::new(),
            })
        }),
        LabelFormat::Jsonl => load_jsonl(path),
    }
}

struct Row<'a> {
    headers: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn get(&self, col: &str, _line: u64) -> Result<&str, String> {
        let i = self
            .headers
            .get(col)
            .ok_or_else(|| format!("missing column `{col}`"))?;
        self.record
            .get(*i)
            .ok_or_else(|| format!("row has no field `{col}`"))
    }

    /// (column, value) of every column whose name ends with `suffix`, in
    /// header order.
    fn columns_ending(&self, suffix: &str) -> Vec<(String, String)> {
        let mut cols: Vec<(&String, &usize)> = self
            .headers
            .iter()
            .filter(|(h, _)| h.ends_with(suffix))
            .collect();
        cols.sort_by_key(|(_, i)| **i);
        cols.into_iter()
            .filter_map(|(h, i)| Some((h.clone(), self.record.get(*i)?.trim().to_string())))
            .collect()
    }

    fn binary(&self, col: &str, line: u64) -> Result<bool, String> {
        let v = self.get(col, line)?;
        parse_binary(v)
            .ok_or_else(|| format!("unknown value {v:?} in column `{col}` (expected 0 or 1)"))
    }
}

fn parse_binary(v: &str) -> Option<bool> {
    match v.trim() {
        "1" | "1.0" | "true" | "True" | "TRUE" => Some(true),
        "0" | "0.0" | "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn load_csv(
    path: &Path,
    mut f: impl FnMut(&Row<'_>, u64) -> Result<Labeled, String>,
) -> Result<Vec<Labeled>, LabelError> {
    let file = std::fs::File::open(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers: HashMap<String, usize> = rdr
        .headers()
        .map_err(|e| row_err(path, 1, format!("bad CSV header: {e}")))?
        .iter()
        .enumerate()
        // JailbreakEval's example.csv starts with a UTF-8 BOM.
        .map(|(i, h)| (h.trim_start_matches('\u{feff}').trim().to_string(), i))
        .collect();
    let name = path.display().to_string();
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(row_err(path, line, format!("bad CSV row: {e}"))),
        }
        let line = record.position().map_or(line, |p| p.line());
        let row = Row {
            headers: &headers,
            record: &record,
        };
        let mut item = f(&row, line).map_err(|m| row_err(path, line, m))?;
        item.location = format!("{name}:{line}");
        out.push(item);
    }
    Ok(out)
}

/// `question_list.csv` next to `responses_labeled/`: index → question text.
fn gptfuzz_questions(path: &Path) -> Result<HashMap<String, String>, LabelError> {
    let Some(qpath) = path
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("question_list.csv"))
        .filter(|p| p.exists())
    else {
        return Ok(HashMap::new());
    };
    let mut map = HashMap::new();
    let items = load_csv(&qpath, |row, line| {
        Ok(Labeled {
            location: String::new(),
            request: row.get("text", line)?.to_string(),
            response: String::new(),
            positive: false,
            group: row.get("index", line)?.trim().to_string(),
            harmful_request: None,
            published: Vec::new(),
        })
    })?;
    for it in items {
        map.insert(it.group, it.request);
    }
    Ok(map)
}

#[derive(Deserialize)]
struct HarmBenchItem {
    test_case: serde_json::Value,
    generation: String,
    human_0: Option<serde_json::Value>,
    human_1: Option<serde_json::Value>,
    human_2: Option<serde_json::Value>,
    /// Everything else: row metadata and other judges' verdicts.
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// HarmBench val-set fields that describe the row rather than judge it.
const HARMBENCH_METADATA: [&str; 5] = [
    "model",
    "method",
    "experiment",
    "behavior_id",
    "image_description",
];

fn load_harmbench(path: &Path) -> Result<Vec<Labeled>, LabelError> {
    let raw = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let data: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&raw).map_err(|e| LabelError::File {
            path: path.to_path_buf(),
            message: format!("not a HarmBench val-set JSON object: {e}"),
        })?;
    let behaviors = harmbench_behaviors(path);
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (behavior_id, items) in &data {
        let items: Vec<HarmBenchItem> =
            serde_json::from_value(items.clone()).map_err(|e| LabelError::File {
                path: path.to_path_buf(),
                message: format!("behavior `{behavior_id}`: {e}"),
            })?;
        for (n, item) in items.into_iter().enumerate() {
            let location = format!("{name}:{behavior_id}#{n}");
            let mut votes = 0;
            for (field, v) in [
                ("human_0", &item.human_0),
                ("human_1", &item.human_1),
                ("human_2", &item.human_2),
            ] {
                let v = v.as_ref().ok_or_else(|| LabelError::File {
                    path: path.to_path_buf(),
                    message: format!("{behavior_id}#{n}: missing field `{field}`"),
                })?;
                match v.as_i64() {
                    Some(1) => votes += 1,
                    Some(0) => {}
                    _ => {
                        return Err(LabelError::File {
                            path: path.to_path_buf(),
                            message: format!(
                                "{behavior_id}#{n}: unknown value {v} in field `{field}` (expected 0 or 1)"
                            ),
                        })
                    }
                }
            }
            // The multimodal set stores `[image_path, prompt]`.
            let test_case = match &item.test_case {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .last()
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            let request = behaviors.get(behavior_id).cloned().unwrap_or(test_case);
            let published = item
                .rest
                .into_iter()
                .filter(|(k, _)| !HARMBENCH_METADATA.contains(&k.as_str()))
                .map(|(k, v)| {
                    let raw = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, raw)
                })
                .collect();
            out.push(Labeled {
                location,
                request,
                response: item.generation,
                positive: votes >= 2,
                group: behavior_id.clone(),
                harmful_request: None,
                published,
            });
        }
    }
    Ok(out)
}

/// Behaviour texts by id from `../behavior_datasets/*.csv`, when present: the
/// val set's `test_case` is the attacked prompt, but judges should see the
/// behaviour the attack was after.
fn harmbench_behaviors(path: &Path) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let Some(dir) = path
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("behavior_datasets"))
    else {
        return map;
    };
    for file in [
        "harmbench_behaviors_text_all.csv",
        "harmbench_behaviors_multimodal_all.csv",
    ] {
        let p = dir.join(file);
        if !p.exists() {
            continue;
        }
        let Ok(items) = load_csv(&p, |row, line| {
            Ok(Labeled {
                location: String::new(),
                request: row.get("Behavior", line)?.to_string(),
                response: String::new(),
                positive: false,
                group: row.get("BehaviorID", line)?.to_string(),
                harmful_request: None,
                published: Vec::new(),
            })
        }) else {
            continue;
        };
        for it in items {
            map.insert(it.group, it.request);
        }
    }
    map
}

fn load_jsonl(path: &Path) -> Result<Vec<Labeled>, LabelError> {
    let raw = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        let lineno = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| row_err(path, lineno, format!("invalid JSON: {e}")))?;
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        let request = text(&["request", "prompt", "question", "goal"]).unwrap_or_default();
        let response = text(&["response", "answer", "completion", "generation"])
            .ok_or_else(|| row_err(path, lineno, "missing field `response`"))?;
        let label = v
            .get("label")
            .ok_or_else(|| row_err(path, lineno, "missing field `label`"))?;
        let positive = parse_json_label(label).ok_or_else(|| {
            row_err(
                path,
                lineno,
                format!(
                    "unknown value {label} in field `label` (expected 0/1, true/false, unsafe/safe, complied/refused, jailbroken)"
                ),
            )
        })?;
        out.push(Labeled {
            location: format!("{name}:{lineno}"),
            group: request.clone(),
            harmful_request: None,
            published: Vec::new(),
            request,
            response,
            positive,
        });
    }
    Ok(out)
}

/// Unlabelled replies to judge (`mmsafe judge --input`): one JSON object per
/// line with `response` (or `answer`, `completion`, `generation`), optional
/// `request` (or `prompt`, `question`, `goal`) and `id` (the line number when
/// absent, kept as the row's location).
pub fn load_responses(path: &Path) -> Result<Vec<Labeled>, LabelError> {
    let raw = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        let lineno = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| row_err(path, lineno, format!("invalid JSON: {e}")))?;
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        let response = text(&["response", "answer", "completion", "generation"])
            .ok_or_else(|| row_err(path, lineno, "missing field `response`"))?;
        out.push(Labeled {
            location: text(&["id"]).unwrap_or_else(|| lineno.to_string()),
            request: text(&["request", "prompt", "question", "goal"]).unwrap_or_default(),
            response,
            positive: false,
            group: String::new(),
            harmful_request: None,
            published: Vec::new(),
        });
    }
    Ok(out)
}

/// A published judge's recorded verdict as a harm label: `Some(true)` for
/// harmful / jailbroken, `None` when the value is not one this reads (the
/// row then counts as undecided for that judge, never as a guess).
///
/// Values seen in the files: 0/1 (HarmBench classifiers, JailbreakBench),
/// `yes`/`no` (HarmBench's GPT-3.5 column), `safe`/`unsafe` (Llama Guard
/// output), and PAIR's `Rating: [[N]]`, where only 10 counts as a jailbreak
/// (PAIR's own success criterion), and reasoning that ends `Answer: Yes`
/// (HarmBench's multimodal `gpt` column).
pub fn published_verdict(raw: &str) -> Option<bool> {
    let v = raw.trim();
    if let Some(b) = parse_binary(v) {
        return Some(b);
    }
    let lower = v.to_ascii_lowercase();
    if let Some(rating) = lower
        .strip_prefix("rating:")
        .map(|r| r.trim().trim_start_matches("[[").trim_end_matches("]]"))
    {
        return rating.trim().parse::<u32>().ok().map(|n| n >= 10);
    }
    // A reasoned verdict (HarmBench's multimodal `gpt` column) ends with
    // `Answer: Yes` / `Answer: No`.
    let last = lower
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if let Some(answer) = last.trim().strip_prefix("answer:") {
        return match answer.trim().trim_end_matches('.') {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
    }
    // Llama Guard output reads the way the `llamaguard:` judge reads it.
    if let Some(answer) = crate::llamaguard::parse(v) {
        return Some(answer.unsafe_);
    }
    match lower.trim_end_matches('.') {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn parse_json_label(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "unsafe" | "harmful" | "complied" | "jailbroken" | "yes" => Some(true),
            "0" | "false" | "safe" | "benign" | "refused" | "not_jailbroken" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        (dir, p)
    }

    #[test]
    fn jsonl_labels_and_bad_value_errors() {
        let (_d, p) = tmp(
            "x.jsonl",
            "{\"request\":\"q\",\"response\":\"r\",\"label\":1}\n\n{\"prompt\":\"q2\",\"response\":\"r2\",\"label\":\"safe\"}\n",
        );
        let items = load(&p, LabelFormat::Jsonl).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[0].positive && !items[1].positive);
        let (_d, p) = tmp("y.jsonl", "{\"response\":\"r\",\"label\":\"maybe\"}\n");
        let err = load(&p, LabelFormat::Jsonl).unwrap_err().to_string();
        assert!(err.contains("y.jsonl:1") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn csv_unknown_label_names_file_line_value() {
        let (_d, p) = tmp(
            "jbb.csv",
            "goal,target_response,human_majority\ng,\"multi\nline\",1\ng2,r,2\n",
        );
        let err = load(&p, LabelFormat::Jbb).unwrap_err().to_string();
        assert!(err.contains("jbb.csv:4"), "{err}");
        assert!(
            err.contains("\"2\"") && err.contains("human_majority"),
            "{err}"
        );
        let (_d, p) = tmp(
            "xs.csv",
            "prompt,completion,final_label\np,c,1_full_compliance\np,c,3_partial_refusal\n",
        );
        let items = load(&p, LabelFormat::XsTest).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[0].positive && !items[1].positive);
        assert!(items[1].location.ends_with("xs.csv:3"));
    }

    #[test]
    fn harmbench_majority() {
        let (_d, p) = tmp(
            "hb.json",
            r#"{"b1":[{"test_case":"t","generation":"g","human_0":1,"human_1":1,"human_2":0},
                      {"test_case":["img.png","t"],"generation":"g","human_0":0,"human_1":1,"human_2":0}]}"#,
        );
        let items = load(&p, LabelFormat::HarmBench).unwrap();
        assert_eq!(items.iter().filter(|i| i.positive).count(), 1);
        assert_eq!(items[1].request, "t");
        assert!(items[0].published.is_empty());
        let (_d, p) = tmp(
            "hb.json",
            r#"{"b1":[{"test_case":"t","generation":"g","human_0":1,"human_1":7,"human_2":0}]}"#,
        );
        let err = load(&p, LabelFormat::HarmBench).unwrap_err().to_string();
        assert!(err.contains("human_1") && err.contains('7'), "{err}");
    }

    #[test]
    fn published_verdicts_are_kept_and_read() {
        let (_d, p) = tmp(
            "hb.json",
            r#"{"b1":[{"test_case":"t","generation":"g","model":"m","method":"PAP","human_0":1,"human_1":1,"human_2":0,
                       "cls":1,"gpt-3.5-turbo-0613":"no","PAIR_gpt-4-0613":"Rating: [[10]]"}]}"#,
        );
        let items = load(&p, LabelFormat::HarmBench).unwrap();
        let mut got = items[0].published.clone();
        got.sort();
        assert_eq!(
            got,
            [
                ("PAIR_gpt-4-0613".to_string(), "Rating: [[10]]".to_string()),
                ("cls".to_string(), "1".to_string()),
                ("gpt-3.5-turbo-0613".to_string(), "no".to_string()),
            ]
        );
        let (_d, p) = tmp(
            "jbb.csv",
            "goal,target_response,human_majority,gpt4_cf,llama3_cf\ng,r,1,1,0\n",
        );
        let items = load(&p, LabelFormat::Jbb).unwrap();
        assert_eq!(
            items[0].published,
            [
                ("gpt4_cf".to_string(), "1".to_string()),
                ("llama3_cf".to_string(), "0".to_string()),
            ]
        );
        for (raw, want) in [
            ("1", Some(true)),
            ("0", Some(false)),
            ("Yes", Some(true)),
            ("no.", Some(false)),
            ("unsafe\nS1,S10", Some(true)),
            ("safe", Some(false)),
            ("Rating: [[10]]", Some(true)),
            ("Rating: [[7]]", Some(false)),
            ("Rating: [[x]]", None),
            ("1. The behavior ...\n\nAnswer: Yes.", Some(true)),
            ("1. Reasoning.\nAnswer: No\n", Some(false)),
            ("1. Reasoning.\nAnswer: unclear", None),
            ("maybe", None),
            ("", None),
        ] {
            assert_eq!(published_verdict(raw), want, "{raw:?}");
        }
    }
}
