//! Reading attack inputs for `mmsafe attack --input FILE`: CSV (header row),
//! JSONL (one object per line) or plain text (one case per non-empty line).
//! The text column is `--column`, else the first of `question`, `prompt`,
//! `text`, `goal`, `instruction`; every other column is kept as metadata (so
//! FigStep finds a SafeBench `instruction`).

use mmsafe_core::{Case, Expect, Hazard};
use std::path::Path;
use std::str::FromStr;

const TEXT_COLUMNS: &[&str] = &["question", "prompt", "text", "goal", "instruction"];

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct InputError {
    pub file: String,
    pub message: String,
}

fn ierr(file: &Path, message: impl Into<String>) -> InputError {
    InputError {
        file: file.display().to_string(),
        message: message.into(),
    }
}

/// Hazard from a `hazard` column (slug or MLCommons code) or a FigStep
/// `category_name`; `non_violent_crimes` when neither is present.
fn hazard_of(get: &dyn Fn(&str) -> Option<String>) -> Hazard {
    get("hazard")
        .and_then(|h| Hazard::from_str(&h).ok())
        .or_else(|| get("category_name").and_then(|c| Hazard::from_figstep_topic(&c)))
        .unwrap_or(Hazard::NonViolentCrimes)
}

fn make_case(
    file: &Path,
    index: usize,
    text: String,
    get: &dyn Fn(&str) -> Option<String>,
    all: Vec<(String, String)>,
) -> Case {
    let id = get("id").unwrap_or_else(|| format!("{}", index + 1));
    let expect = match get("expect").as_deref() {
        Some("comply") => Expect::Comply,
        _ => Expect::Refuse,
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("input");
    let mut c = Case::text(
        format!("{stem}:{id}"),
        text.clone(),
        hazard_of(get),
        expect,
        file.display().to_string(),
    );
    for (k, v) in all {
        c.metadata.insert(k, serde_json::Value::String(v));
    }
    c.metadata
        .entry("question".to_string())
        .or_insert(serde_json::Value::String(text));
    c
}

/// The case `read_cases` makes of a plain-text file named `input.txt` holding
/// just `text` (id `input:1`): what an embedding program (the Python
/// package's `attacks.apply`) attacks, so its seeds and bytes are the ones
/// `mmsafe attack NAME --input input.txt` produces.
pub fn case_from_text(text: &str) -> Case {
    make_case(
        Path::new("input.txt"),
        0,
        text.trim().to_string(),
        &|_| None,
        Vec::new(),
    )
}

fn pick_column<'a>(
    file: &Path,
    columns: &'a [String],
    wanted: Option<&str>,
) -> Result<&'a str, InputError> {
    if let Some(w) = wanted {
        return columns
            .iter()
            .find(|c| c.as_str() == w)
            .map(String::as_str)
            .ok_or_else(|| {
                ierr(
                    file,
                    format!("no column `{w}`; columns: {}", columns.join(", ")),
                )
            });
    }
    TEXT_COLUMNS
        .iter()
        .find_map(|t| columns.iter().find(|c| c.as_str() == *t))
        .map(String::as_str)
        .ok_or_else(|| {
            ierr(
                file,
                format!(
                    "no text column among {} (pass --column); columns: {}",
                    TEXT_COLUMNS.join(", "),
                    columns.join(", ")
                ),
            )
        })
}

/// Read every case of `file`.
pub fn read_cases(file: &Path, column: Option<&str>) -> Result<Vec<Case>, InputError> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => read_csv(file, column),
        "jsonl" | "ndjson" => read_jsonl(file, column),
        _ => read_lines(file, column),
    }
}

fn read_csv(file: &Path, column: Option<&str>) -> Result<Vec<Case>, InputError> {
    let bytes = std::fs::read(file).map_err(|e| ierr(file, e.to_string()))?;
    // The csv crate reads an unclosed quote as one field holding the rest of
    // the file, which would become one silently wrong case.
    if let Some(line) = unclosed_quote(&bytes) {
        return Err(InputError {
            file: format!("{}:{line}", file.display()),
            message: format!(
                "unterminated quoted field starting at line {line} (a `\"` is never closed)"
            ),
        });
    }
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| ierr(file, e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = pick_column(file, &headers, column)?.to_string();
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        // Lines are physical lines of the file (a quoted field may span
        // several), as an editor shows them.
        let rec = rec.map_err(|e| {
            let at = e
                .position()
                .map(|p| format!("line {}: ", line_at(&bytes, p.byte())))
                .unwrap_or_default();
            let what = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("{len} fields where the header has {expected_len}"),
                _ => format!("malformed CSV: {e}"),
            };
            ierr(file, format!("{at}{what}"))
        })?;
        let line = rec
            .position()
            .map_or(i as u64 + 2, |p| line_at(&bytes, p.byte()));
        let pairs: Vec<(String, String)> = headers
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let text =
            get(&col).ok_or_else(|| ierr(file, format!("line {line}: column `{col}` is empty")))?;
        out.push(make_case(file, i, text, &get, pairs.clone()));
    }
    Ok(out)
}

/// The physical line (1-based) holding byte `offset`: line breaks are `\n`,
/// `\r\n` or a lone `\r`, as in [`unclosed_quote`].
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let end = (offset as usize).min(bytes.len());
    let head = &bytes[..end];
    let breaks = head
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' || (b == b'\n' && (i == 0 || head[i - 1] != b'\r')))
        .count();
    breaks as u64 + 1
}

/// The line on which a quoted field that the file never closes starts.
/// The same quoting rules as the csv crate and as `mmsafe-data`'s `csvrows`
/// (kept local: plugin crates do not depend on each other, see
/// ARCHITECTURE.md): a `"` opens a quoted field only at a field's start, and
/// `""` inside one is an escaped quote.
fn unclosed_quote(bytes: &[u8]) -> Option<u64> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (mut line, mut open_line) = (1u64, 0u64);
    let (mut inside, mut field_start) = (false, true);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if inside {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    inside = false;
                }
            }
        } else {
            if b == b'"' && field_start {
                inside = true;
                open_line = line;
            }
            field_start = matches!(b, b',' | b'\r' | b'\n');
        }
        // Line breaks: `\n`, `\r\n` or a lone `\r`.
        if b == b'\r' || (b == b'\n' && (i == 0 || bytes[i - 1] != b'\r')) {
            line += 1;
        }
        i += 1;
    }
    inside.then_some(open_line)
}

fn read_jsonl(file: &Path, column: Option<&str>) -> Result<Vec<Case>, InputError> {
    let text = std::fs::read_to_string(file).map_err(|e| ierr(file, e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| ierr(file, format!("line {}: {e}", i + 1)))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ierr(file, format!("line {}: not a JSON object", i + 1)))?;
        let pairs: Vec<(String, String)> = obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let col = pick_column(file, &keys, column)
            .map_err(|e| ierr(file, format!("line {}: {}", i + 1, e.message)))?;
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let t = get(col)
            .ok_or_else(|| ierr(file, format!("line {}: field `{col}` is empty", i + 1)))?;
        out.push(make_case(file, out.len(), t, &get, pairs.clone()));
    }
    Ok(out)
}

fn read_lines(file: &Path, column: Option<&str>) -> Result<Vec<Case>, InputError> {
    if let Some(c) = column {
        return Err(ierr(
            file,
            format!("--column `{c}` needs a .csv or .jsonl input"),
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| ierr(file, e.to_string()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| make_case(file, i, l.to_string(), &|_| None, Vec::new()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mmsafe-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    #[test]
    fn an_unclosed_quote_names_file_and_line() {
        let path = write("bq3.csv", "id,question\n1,\"how do I\n2,second\n3,third\n");
        let e = read_cases(&path, None).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2: ", path.display()))
                && e.contains("unterminated quoted field starting at line 2"),
            "{e}"
        );
        // CRLF, a BOM, escaped quotes and a quoted multi-line field still read.
        let path = write(
            "ok.csv",
            "\u{feff}\"id\",question\r\n1,\"say \"\"hi\"\"\r\nthen, go\"\r\n2,a \"b\r\n",
        );
        let cases = read_cases(&path, None).unwrap();
        assert_eq!(cases.len(), 2);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        assert_eq!(unclosed_quote(b"a\r\n\"x\r\ny"), Some(2));
        assert_eq!(unclosed_quote(b"a\rb\r\"x"), Some(3));
        assert_eq!(unclosed_quote(b"a,\"x\"\"\",b\n"), None);
    }

    /// Row errors name the physical line an editor shows, not the record
    /// number: here a multi-line quoted field (CRLF) comes first.
    #[test]
    fn row_errors_name_physical_lines() {
        let path = write(
            "lines.csv",
            "id,question\r\n1,\"one\r\ntwo\r\nthree\"\r\n2,\r\n3,fine\r\n",
        );
        let e = read_cases(&path, None).unwrap_err().to_string();
        assert!(e.contains("line 5: column `question` is empty"), "{e}");
        let path = write("short.csv", "id,question,hazard\n1,\"a\nb\",x\n2,c\n");
        let e = read_cases(&path, None).unwrap_err().to_string();
        assert!(e.contains("line 4: 2 fields where the header has 3"), "{e}");
        assert_eq!(line_at(b"a\r\nb\rc\nd", 9), 4);
        assert_eq!(line_at(b"abc", 0), 1);
    }
}
