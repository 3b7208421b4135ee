//! Reading CSV files row by row, with errors that name file, line and column.
//!
//! Uses a real CSV parser (CRLF, quoted multi-line fields, a leading UTF-8 BOM),
//! in flexible mode so that a short record is reported with the name of the
//! column it lacks rather than as a bare length mismatch.

use mmsafe_core::DataError;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
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
    let open = || {
        File::open(path).map_err(|e| {
            DataError::new(
                &file_name,
                format!("cannot open: {}", crate::paths::describe(path, &e)),
            )
        })
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(matches!(header, Header::InFile))
        .flexible(true)
        .from_reader(BufReader::new(open()?));
    // The csv crate's own line numbers drift under CRLF, so lines are counted
    // here from each record's byte offset, on a second handle of the file.
    let mut lines = LineCounter::new(BufReader::new(open()?));
    let names: Vec<String> = match header {
        Header::InFile => reader
            .headers()
            .map_err(|e| csv_error(&file_name, &e, &mut lines))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect(),
        Header::Fixed(names) => names.iter().map(|s| s.to_string()).collect(),
    };
    for col in required {
        if !names.iter().any(|n| n == col) {
            // A quote left open in the header hides every column after it.
            if let Ok(Some(l)) = lines.unclosed_quote() {
                return Err(unterminated(&file_name, l));
            }
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
    let mut records = reader.into_records().peekable();
    let mut failed = false;
    Ok(std::iter::from_fn(move || loop {
        if failed {
            return None;
        }
        let rec = records.next()?;
        let record = match rec {
            Ok(record) => record,
            Err(e) => return Some(Err(csv_error(&cols.file, &e, &mut lines))),
        };
        let line = match record.position() {
            Some(p) => match lines.line_at(p.byte()) {
                Ok(l) => l,
                Err(e) => return Some(Err(cols_error(&cols, e))),
            },
            None => 0,
        };
        // An unclosed quote swallows the rest of the file into one field, so
        // only the last record can hold it; say so instead of "column missing".
        if records.peek().is_none() {
            match lines.unclosed_quote() {
                Ok(Some(open_line)) => {
                    failed = true;
                    return Some(Err(unterminated(&cols.file, open_line)));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(cols_error(&cols, e))),
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        return Some(Ok(CsvRow {
            line,
            cols: cols.clone(),
            record,
        }));
    }))
}

fn unterminated(file: &str, line: u64) -> DataError {
    DataError::new(
        format!("{file}:{line}"),
        format!("unterminated quoted field starting at line {line} (a `\"` is never closed)"),
    )
}

fn cols_error(cols: &Columns, e: std::io::Error) -> DataError {
    DataError::new(&cols.file, format!("read error: {e}"))
}

/// Physical line numbers from byte offsets, read forward once, plus enough
/// of the CSV quoting rules (a `"` opens a quoted field only at a field's
/// start; `""` inside one is an escaped quote) to tell whether the file ends
/// inside a quoted field.
struct LineCounter<R> {
    reader: R,
    pos: u64,
    scan: Scan,
}

#[derive(Debug)]
struct Scan {
    line: u64,
    prev_cr: bool,
    state: Quote,
    field_start: bool,
    open_line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Outside,
    Inside,
    /// A `"` inside a quoted field: closes it unless another `"` follows.
    MaybeClosed,
}

impl<R: BufRead> LineCounter<R> {
    fn new(reader: R) -> Self {
        LineCounter {
            reader,
            pos: 0,
            scan: Scan {
                line: 1,
                prev_cr: false,
                state: Quote::Outside,
                field_start: true,
                open_line: 0,
            },
        }
    }

    /// The line that byte offset `target` lies on (offsets only move forward).
    fn line_at(&mut self, target: u64) -> std::io::Result<u64> {
        self.advance(Some(target))?;
        Ok(self.scan.line)
    }

    /// Read to the end; the line a still-open quoted field started on.
    fn unclosed_quote(&mut self) -> std::io::Result<Option<u64>> {
        self.advance(None)?;
        Ok((self.scan.state == Quote::Inside).then_some(self.scan.open_line))
    }

    fn advance(&mut self, target: Option<u64>) -> std::io::Result<()> {
        while target.is_none_or(|t| self.pos < t) {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let room = target.map_or(buf.len() as u64, |t| t - self.pos);
            let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            for (i, &b) in buf[..n].iter().enumerate() {
                self.scan.step(b, self.pos + i as u64);
            }
            self.reader.consume(n);
            self.pos += n as u64;
        }
        Ok(())
    }
}

impl Scan {
    fn step(&mut self, b: u8, at: u64) {
        // A UTF-8 BOM does not count as field content.
        if at < 3
            && [0xEF, 0xBB, 0xBF][at as usize] == b
            && self.field_start
            && self.state == Quote::Outside
        {
            return;
        }
        if self.state == Quote::MaybeClosed {
            if b == b'"' {
                self.state = Quote::Inside;
                return;
            }
            self.state = Quote::Outside;
            self.field_start = false;
        }
        match self.state {
            Quote::Inside => {
                if b == b'"' {
                    self.state = Quote::MaybeClosed;
                }
            }
            _ => match b {
                b'"' if self.field_start => {
                    self.state = Quote::Inside;
                    self.open_line = self.line;
                    self.field_start = false;
                }
                b',' | b'\r' | b'\n' => self.field_start = true,
                _ => self.field_start = false,
            },
        }
        // Line breaks: `\n`, `\r\n` or a lone `\r`.
        match b {
            b'\r' => {
                self.line += 1;
                self.prev_cr = true;
            }
            b'\n' => {
                if !self.prev_cr {
                    self.line += 1;
                }
                self.prev_cr = false;
            }
            _ => self.prev_cr = false,
        }
    }
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

fn csv_error<R: BufRead>(file: &str, e: &csv::Error, lines: &mut LineCounter<R>) -> DataError {
    let loc = match e.position() {
        Some(p) => match lines.line_at(p.byte()) {
            Ok(l) => format!("{file}:{l}"),
            Err(_) => format!("{file}:{}", p.line()),
        },
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
