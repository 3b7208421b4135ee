//! Reading CSV files row by row, with errors that name file, line and column.
//!
//! Uses a real CSV parser (CRLF, quoted multi-line fields, a leading UTF-8 BOM),
//! in flexible mode so that a short record is reported with the name of the
//! column it lacks rather than as a bare length mismatch.

use mmsafe_core::DataError;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

/// Column names of a CSV file: from its header, or given when it has none.
#[derive(Debug, Clone, Copy)]
pub enum Header<'a> {
    InFile,
    Fixed(&'a [&'a str]),
}

#[derive(Debug)]
struct Columns {
    file: String,
    index: HashMap<String, usize>,
    names: Vec<String>,
}

/// One record, with its file and the line it starts on.
#[derive(Debug, Clone)]
pub struct CsvRow {
    cols: Arc<Columns>,
    line: u64,
    record: csv::StringRecord,
}

impl CsvRow {
    pub fn file(&self) -> &str {
        &self.cols.file
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    /// `file:line`.
    pub fn loc(&self) -> String {
        format!("{}:{}", self.cols.file, self.line)
    }

    pub fn error(&self, message: impl Into<String>) -> DataError {
        DataError::new(self.loc(), message)
    }

    /// An error about one column's value.
    pub fn field_error(&self, column: &str, message: impl std::fmt::Display) -> DataError {
        DataError::new(self.loc(), format!("column `{column}`: {message}"))
    }

    /// The value of a column that must be present (it may be empty).
    pub fn get(&self, column: &str) -> Result<&str, DataError> {
        let Some(&i) = self.cols.index.get(column) else {
            return Err(self.error(format!(
                "column `{column}` is missing (columns: {})",
                self.cols.names.join(", ")
            )));
        };
        self.record.get(i).ok_or_else(|| {
            self.error(format!(
                "column `{column}` is missing (record has {} fields, header has {})",
                self.record.len(),
                self.cols.names.len()
            ))
        })
    }

    /// A column that must hold non-blank text.
    pub fn text(&self, column: &str) -> Result<&str, DataError> {
        let v = self.get(column)?;
        if v.trim().is_empty() {
            return Err(self.field_error(column, "is empty"));
        }
        Ok(v)
    }

    /// An optional column: `None` when the file has no such column or the
    /// record is short.
    pub fn opt(&self, column: &str) -> Option<&str> {
        self.cols
            .index
            .get(column)
            .and_then(|&i| self.record.get(i))
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.cols.index.contains_key(column)
    }
}

/// Open a CSV file and check that `required` columns exist in its header.
/// The returned iterator reads lazily and yields one result per record.
pub fn read(
    path: &Path,
    header: Header<'_>,
    required: &[&str],
) -> Result<impl Iterator<Item = Result<CsvRow, DataError>> + Send + 'static, DataError> {
    let file_name = path.display().to_string();
    let file =
        File::open(path).map_err(|e| DataError::new(&file_name, format!("cannot open: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(matches!(header, Header::InFile))
        .flexible(true)
        .from_reader(BufReader::new(file));
    let names: Vec<String> = match header {
        Header::InFile => reader
            .headers()
            .map_err(|e| csv_error(&file_name, &e))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect(),
        Header::Fixed(names) => names.iter().map(|s| s.to_string()).collect(),
    };
    for col in required {
        if !names.iter().any(|n| n == col) {
            return Err(DataError::new(
                format!("{file_name}:1"),
                format!(
                    "column `{col}` is missing from the header (columns: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    let index = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .rev() // the first of duplicate names wins
        .collect();
    let cols = Arc::new(Columns {
        file: file_name,
        index,
        names,
    });
    Ok(reader.into_records().filter_map(move |rec| match rec {
        Ok(record) if record.iter().all(|f| f.trim().is_empty()) => None,
        Ok(record) => Some(Ok(CsvRow {
            line: record.position().map_or(0, |p| p.line()),
            cols: cols.clone(),
            record,
        })),
        Err(e) => Some(Err(csv_error(&cols.file, &e))),
    }))
}

/// Count records cheaply (for `len_hint`), without keeping them.
pub fn count(path: &Path, header: Header<'_>) -> Option<usize> {
    let file = File::open(path).ok()?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(matches!(header, Header::InFile))
        .flexible(true)
        .from_reader(BufReader::new(file));
    let mut rec = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut rec).ok()? {
        if !rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            n += 1;
        }
    }
    Some(n)
}

fn csv_error(file: &str, e: &csv::Error) -> DataError {
    let loc = match e.position() {
        Some(p) => format!("{file}:{}", p.line()),
        None => file.to_string(),
    };
    let msg = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "field {} is not valid UTF-8 (from byte {})",
            err.field() + 1,
            err.valid_up_to()
        ),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => format!("malformed CSV: {e}"),
    };
    DataError::new(loc, msg)
}
