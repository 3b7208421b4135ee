//! JSON and JSONL input, with errors that name file, line and field.

use mmsafe_core::DataError;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Parse a whole JSON file. A syntax error names the file, line and column.
pub fn read(path: &Path) -> Result<Value, DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| {
        DataError::new(
            &name,
            format!("cannot open: {}", crate::paths::describe(path, &e)),
        )
    })?;
    serde_json::from_reader(BufReader::new(file)).map_err(|e| {
        if e.is_io() {
            DataError::new(&name, format!("read error: {e}"))
        } else {
            DataError::new(
                format!("{name}:{}", e.line()),
                format!("malformed JSON at column {}: {e}", e.column()),
            )
        }
    })
}

/// Read a JSONL file lazily: one result per non-blank line, `(line, value)`.
pub fn lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(usize, Value), DataError>> + Send + 'static, DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| {
        DataError::new(
            &name,
            format!("cannot open: {}", crate::paths::describe(path, &e)),
        )
    })?;
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(move |(i, line)| {
            let n = i + 1;
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    return Some(Err(DataError::new(
                        format!("{name}:{n}"),
                        format!("read error: {e}"),
                    )))
                }
            };
            let line = line.trim_start_matches('\u{feff}');
            if line.trim().is_empty() {
                return None;
            }
            Some(
                serde_json::from_str(line).map(|v| (n, v)).map_err(|e| {
                    DataError::new(format!("{name}:{n}"), format!("malformed JSON: {e}"))
                }),
            )
        }))
}

/// Count non-blank lines (for `len_hint`).
pub fn count_lines(path: &Path) -> Option<usize> {
    let file = File::open(path).ok()?;
    let mut n = 0;
    for line in BufReader::new(file).lines() {
        if !line.ok()?.trim().is_empty() {
            n += 1;
        }
    }
    Some(n)
}

/// Field access on one JSON record, with errors located at `loc`.
pub struct Record<'a> {
    pub loc: String,
    pub value: &'a Value,
}

impl<'a> Record<'a> {
    pub fn new(loc: impl Into<String>, value: &'a Value) -> Record<'a> {
        Record {
            loc: loc.into(),
            value,
        }
    }

    pub fn error(&self, message: impl Into<String>) -> DataError {
        DataError::new(&self.loc, message)
    }

    pub fn field_error(&self, field: &str, message: impl std::fmt::Display) -> DataError {
        DataError::new(&self.loc, format!("field `{field}`: {message}"))
    }

    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.value.get(field).filter(|v| !v.is_null())
    }

    /// A field that must be a non-blank string.
    pub fn str(&self, field: &str) -> Result<&'a str, DataError> {
        match self.get(field) {
            None => Err(self.field_error(field, "is missing")),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(self.field_error(field, "is empty"))
            }
            Some(Value::String(s)) => Ok(s),
            Some(other) => {
                Err(self.field_error(field, format!("is not a string ({})", kind(other))))
            }
        }
    }

    pub fn opt_str(&self, field: &str) -> Option<&'a str> {
        self.get(field).and_then(Value::as_str)
    }

    /// A string or number, as text (ids are written either way).
    pub fn id(&self, field: &str) -> Result<String, DataError> {
        match self.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(self.field_error(field, format!("is not an id ({})", kind(other)))),
            None => Err(self.field_error(field, "is missing")),
        }
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
