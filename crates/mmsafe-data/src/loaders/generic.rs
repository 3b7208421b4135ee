//! Generic CSV and JSONL loaders with a column mapping:
//! `csv:<file>:text=<col>[,hazard=<col>][,expect=<col>][,id=<col>][,image=<col>]…`
//! (`jsonl:` takes the same parameters, naming top-level fields).
//!
//! A `hazard` column holds hazard slugs or S-codes (`privacy`, `S7`, `benign`);
//! an `expect` column holds `refuse`/`comply` or the usual label synonyms
//! (`unsafe`/`harmful`/`1`/`true` → refuse, `safe`/`benign`/`0`/`false` →
//! comply). Missing columns fall back to `default_hazard` / `default_expect`;
//! a benign hazard implies comply and a comply expectation implies benign.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, CsvRow, Header};
use crate::json::{self, Record};
use crate::loader::{Input, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Image, ParamSpec, Source};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new("text", "prompt", "column with the request text"),
    ParamSpec::new(
        "id",
        "",
        "column with a stable id (default: <id_prefix>:<row number>)",
    ),
    ParamSpec::new(
        "id_prefix",
        "",
        "prefix of row-number ids (default: the file stem, as `mmsafe attack` names rows)",
    ),
    ParamSpec::new("hazard", "", "column with a hazard slug or S-code"),
    ParamSpec::new(
        "expect",
        "",
        "column with refuse/comply (or unsafe/safe, 1/0)",
    ),
    ParamSpec::new(
        "image",
        "",
        "column with an image path (relative to images=) or data: URL",
    ),
    IMAGES,
    TEXT_ONLY,
    ParamSpec::new(
        "default_hazard",
        "non_violent_crimes",
        "hazard when there is no hazard column",
    ),
    ParamSpec::new(
        "default_expect",
        "refuse",
        "refuse | comply, when there is no expect column",
    ),
    ParamSpec::new("meta", "", "`+`-separated columns to keep in metadata"),
];

pub static CSV_LOADER: Loader = Loader {
    name: "csv",
    usage: "csv:<file.csv>:text=<col>[,hazard=<col>,expect=<col>,id=<col>,image=<col>,meta=<a+b>]",
    summary:
        "any CSV with a header; columns mapped by parameters (text, hazard, expect, id, image)",
    params: PARAMS,
    takes_path: true,
    known_files: &[],
    build: build_csv,
};

pub static JSONL_LOADER: Loader = Loader {
    name: "jsonl",
    usage: "jsonl:<file.jsonl>:text=<field>[,hazard=<field>,expect=<field>,id=<field>,image=<field>,meta=<a+b>]",
    summary: "any JSONL (one object per line); fields mapped by parameters (text, hazard, expect, id, image)",
    params: PARAMS,
    takes_path: true,
    known_files: &[],
    build: build_jsonl,
};

struct Mapping {
    source: String,
    text: String,
    id: Option<String>,
    /// Row-number ids are `<id_prefix>:<n>` so that two files' rows differ.
    id_prefix: String,
    hazard: Option<String>,
    expect: Option<String>,
    image: Option<String>,
    images: Option<PathBuf>,
    default_hazard: Hazard,
    default_expect: Expect,
    meta: Vec<String>,
    opts: LoadOptions,
}

fn mapping(input: &Input<'_>) -> Result<Mapping, DataError> {
    let opt = |k: &str| Some(input.params.str(k).trim().to_string()).filter(|s| !s.is_empty());
    let default_hazard = input
        .params
        .get::<Hazard>("default_hazard")
        .map_err(|e| common::param_error(input, e))?;
    let default_expect = parse_expect(input.params.str("default_expect"))
        .ok_or_else(|| common::param_error(input, "default_expect must be refuse or comply"))?;
    let image = opt("image");
    let images = match image {
        Some(_) => common::images_dir(input, &[common::parent(input.path)])?,
        None => None,
    };
    Ok(Mapping {
        source: input.spec.to_string(),
        text: input.params.str("text").trim().to_string(),
        id: opt("id"),
        id_prefix: opt("id_prefix").unwrap_or_else(|| {
            input
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "row".to_string())
        }),
        hazard: opt("hazard"),
        expect: opt("expect"),
        image,
        images,
        default_hazard,
        default_expect,
        meta: input
            .params
            .str("meta")
            .split('+')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        opts: input.opts.clone(),
    })
}

impl Mapping {
    fn required(&self) -> Vec<&str> {
        let mut cols = vec![self.text.as_str()];
        cols.extend(
            [&self.id, &self.hazard, &self.expect, &self.image]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        cols
    }
}

/// One record of either format, seen through the mapping.
trait Row {
    fn loc(&self) -> String;
    fn field(&self, name: &str) -> Result<Option<String>, DataError>;
    fn field_error(&self, name: &str, msg: String) -> DataError;
}

impl Row for CsvRow {
    fn loc(&self) -> String {
        CsvRow::loc(self)
    }
    fn field(&self, name: &str) -> Result<Option<String>, DataError> {
        Ok(Some(self.get(name)?.to_string()))
    }
    fn field_error(&self, name: &str, msg: String) -> DataError {
        CsvRow::field_error(self, name, msg)
    }
}

impl Row for Record<'_> {
    fn loc(&self) -> String {
        self.loc.clone()
    }
    fn field(&self, name: &str) -> Result<Option<String>, DataError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(other) => {
                Err(self.field_error(name, format!("is {}, not text", json::kind(other))))
            }
        }
    }
    fn field_error(&self, name: &str, msg: String) -> DataError {
        Record::field_error(self, name, msg)
    }
}

fn parse_expect(v: &str) -> Option<Expect> {
    match v.trim().to_ascii_lowercase().as_str() {
        "refuse" | "refusal" | "unsafe" | "harmful" | "1" | "true" | "yes" => Some(Expect::Refuse),
        "comply" | "compliance" | "safe" | "benign" | "0" | "false" | "no" => Some(Expect::Comply),
        _ => None,
    }
}

fn parse_hazard(v: &str) -> Result<Hazard, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "safe" | "none" => Ok(Hazard::Benign),
        _ => v.parse::<Hazard>(),
    }
}

fn to_case(row: &dyn Row, n: usize, m: &Mapping) -> Result<Case, RowError> {
    let text = row
        .field(&m.text)?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| row.field_error(&m.text, "is missing or empty".into()))?;
    let id = match &m.id {
        Some(col) => row
            .field(col)?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| row.field_error(col, "is missing or empty".into()))?,
        None => format!("{}:{n}", m.id_prefix),
    };
    let hazard = match &m.hazard {
        Some(col) => match row.field(col)?.filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(parse_hazard(&v).map_err(|e| row.field_error(col, e))?),
            None => None,
        },
        None => None,
    };
    let expect = match &m.expect {
        Some(col) => match row.field(col)?.filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(parse_expect(&v).ok_or_else(|| {
                row.field_error(
                    col,
                    format!("`{v}` is not refuse/comply (or unsafe/safe, 1/0, true/false)"),
                )
            })?),
            None => None,
        },
        None => None,
    };
    let (hazard, expect) = match (hazard, expect) {
        (Some(h), Some(e)) => (h, e),
        (Some(Hazard::Benign), None) => (Hazard::Benign, Expect::Comply),
        (Some(h), None) => (h, m.default_expect),
        (None, Some(Expect::Comply)) => (Hazard::Benign, Expect::Comply),
        (None, Some(e)) => (m.default_hazard, e),
        (None, None) if m.default_expect == Expect::Comply => (Hazard::Benign, Expect::Comply),
        (None, None) => (m.default_hazard, m.default_expect),
    };
    let mut images: Vec<Image> = Vec::new();
    if let (Some(col), Some(dir)) = (&m.image, &m.images) {
        if let Some(p) = row.field(col)?.filter(|p| !p.trim().is_empty()) {
            let loc = row.loc();
            if p.starts_with("data:") {
                let img = Image::from_data_url(&p).map_err(|e| {
                    RowError::Image(row.field_error(col, format!("bad data: URL: {e}")))
                })?;
                images.push(img);
            } else {
                let path = crate::images::resolve(dir, &p, &loc, col)?;
                images.push(row_image(&path, &loc)?);
            }
        }
    }
    let mut c = case(id, &m.source, &row.loc(), &text, images, hazard, expect);
    meta(&mut c, "question", text.as_str());
    for col in &m.meta {
        if let Some(v) = row.field(col)? {
            meta(&mut c, col, v);
        }
    }
    Ok(c)
}

fn build_csv(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let m = Arc::new(mapping(input)?);
    let path = input.path.to_path_buf();
    let _ = csvrows::read(&path, Header::InFile, &m.required())?;
    let len = csvrows::count(&path, Header::InFile);
    Ok(LazySource::new(input.spec, len, move || {
        let m = m.clone();
        let rows = csvrows::read(&path, Header::InFile, &m.required())?;
        Ok(Box::new(rows.enumerate().filter_map(move |(i, row)| {
            let r = row
                .map_err(RowError::Data)
                .and_then(|r| to_case(&r, i + 1, &m));
            settle(&m.opts, r)
        })))
    })
    .boxed())
}

fn build_jsonl(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let m = Arc::new(mapping(input)?);
    let path = input.path.to_path_buf();
    let _ = json::lines(&path)?;
    let len = json::count_lines(&path);
    Ok(LazySource::new(input.spec, len, move || {
        let m = m.clone();
        let name = path.display().to_string();
        let lines = json::lines(&path)?;
        Ok(Box::new(lines.enumerate().filter_map(move |(i, line)| {
            let r = line.map_err(RowError::Data).and_then(|(n, v)| {
                if !v.is_object() {
                    return Err(RowError::Data(DataError::new(
                        format!("{name}:{n}"),
                        format!("expected a JSON object, found {}", json::kind(&v)),
                    )));
                }
                to_case(&Record::new(format!("{name}:{n}"), &v), i + 1, &m)
            });
            settle(&m.opts, r)
        })))
    })
    .boxed())
}
