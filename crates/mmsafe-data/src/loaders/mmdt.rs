//! MMDT (Multimodal DecodingTrust), safety perspective, image-to-text: the
//! Hugging Face dataset `AI-Secure/MMDecodingTrust-I2T`, config `safety`, as
//! `datasets` publishes it: Parquet files `safety/<split>-NNNNN-of-NNNNN.parquet`
//! for the splits typography, illustration and jailbreak, with the columns
//! `prompts` (the request), `image` (a struct `{bytes, path}`: the encoded
//! image embedded in the file), `scenario` (the risk category, despite the
//! name) and `attack`. MMDT's own evaluation (`load_dataset(…, "safety",
//! split=…)`) reads exactly these columns.
//!
//! Every row is a harmful request: all refuse. The risk category maps onto
//! hazards by keyword; one no keyword matches gets `hazard=` and keeps its
//! label in `metadata["category"]`.

use super::common::{self, TEXT_ONLY};
use crate::options::LoadOptions;
use crate::registry::{Input, Loader};
use crate::source::{case, meta, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "mmdt",
    usage: "mmdt:<MMDecodingTrust-I2T dir, its safety/ dir, or one .parquet>[:splits=typography+illustration+jailbreak,hazard=…,text_only=true]",
    summary: "MMDT safety (Hugging Face MMDecodingTrust-I2T, config safety): Parquet with embedded images, columns prompts,image,scenario,attack; 3 splits; risk category → hazards by keyword; all refuse",
    params: &[
        ParamSpec::new("splits", "", "`+`-separated splits to keep: typography, illustration, jailbreak (default all found)"),
        ParamSpec::new("hazard", "non_violent_crimes", "hazard of a row whose risk category no keyword maps"),
        TEXT_ONLY,
    ],
    takes_path: true,
    known_files: &[],
    build,
};

/// The splits of the `safety` config, in the order MMDT lists them.
pub const SPLITS: [&str; 3] = ["typography", "illustration", "jailbreak"];

/// Columns every file must have (`attack` is read when present).
const COLUMNS: [&str; 3] = ["prompts", "image", "scenario"];

/// Risk-category keyword → hazard, first match wins (so "child sexual …"
/// is caught before "sexual", "self-harm" before "harm", weapons of mass
/// destruction before violence).
pub const CATEGORY_KEYWORDS: [(&str, Hazard); 33] = [
    ("child", Hazard::ChildSexualExploitation),
    ("minor", Hazard::ChildSexualExploitation),
    ("self-harm", Hazard::SuicideSelfHarm),
    ("self harm", Hazard::SuicideSelfHarm),
    ("selfharm", Hazard::SuicideSelfHarm),
    ("suicid", Hazard::SuicideSelfHarm),
    ("sex", Hazard::SexualContent),
    ("porn", Hazard::SexualContent),
    ("nud", Hazard::SexualContent),
    ("hate", Hazard::Hate),
    ("harass", Hazard::Hate),
    ("discrimin", Hazard::Hate),
    ("bias", Hazard::Hate),
    ("chemical", Hazard::IndiscriminateWeapons),
    ("biolog", Hazard::IndiscriminateWeapons),
    ("nuclear", Hazard::IndiscriminateWeapons),
    ("violen", Hazard::ViolentCrimes),
    ("shocking", Hazard::ViolentCrimes),
    ("terror", Hazard::ViolentCrimes),
    ("weapon", Hazard::ViolentCrimes),
    ("privacy", Hazard::Privacy),
    ("politic", Hazard::Elections),
    ("election", Hazard::Elections),
    ("health", Hazard::SpecializedAdvice),
    ("medical", Hazard::SpecializedAdvice),
    ("misinformation", Hazard::Defamation),
    ("defam", Hazard::Defamation),
    ("copyright", Hazard::IntellectualProperty),
    ("illegal", Hazard::NonViolentCrimes),
    ("fraud", Hazard::NonViolentCrimes),
    ("decept", Hazard::NonViolentCrimes),
    ("malware", Hazard::NonViolentCrimes),
    ("spam", Hazard::NonViolentCrimes),
];

/// The hazard of a risk category, if a keyword names it.
pub fn category_hazard(category: &str) -> Option<Hazard> {
    let c = category.to_ascii_lowercase();
    CATEGORY_KEYWORDS
        .iter()
        .find(|(k, _)| c.contains(k))
        .map(|(_, h)| *h)
}

struct Ctx {
    source: String,
    /// (file, split, number of the file's first row within its split), in
    /// split order, then shard order.
    files: Vec<(PathBuf, &'static str, usize)>,
    fallback: Hazard,
    text_only: bool,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let mut keep = Vec::new();
    for s in input.params.str("splits").split('+').map(str::trim) {
        if s.is_empty() {
            continue;
        }
        match SPLITS.iter().find(|k| k.eq_ignore_ascii_case(s)) {
            Some(k) => keep.push(*k),
            None => {
                return Err(common::param_error(
                    input,
                    format!("split `{s}` is not one of {}", SPLITS.join(", ")),
                ))
            }
        }
    }
    let fallback = common::hazard_param(input)?;
    let text_only = input
        .params
        .bool("text_only")
        .map_err(|e| common::param_error(input, e))?;
    // Row numbers count across the shards of a split, as `datasets` does.
    let mut files = Vec::new();
    let mut len = 0usize;
    let mut split_rows: Vec<(&str, usize)> = Vec::new();
    for (f, split) in find_files(input.path, &keep)? {
        let rows = check_file(&f)?;
        len += rows;
        let first = match split_rows.iter_mut().find(|(s, _)| *s == split) {
            Some((_, n)) => {
                *n += rows;
                *n - rows
            }
            None => {
                split_rows.push((split, rows));
                0
            }
        };
        files.push((f, split, first));
    }
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        files,
        fallback,
        text_only,
        opts: input.opts.clone(),
    });
    Ok(LazySource::new(input.spec, Some(len), move || Ok(cases(ctx.clone()))).boxed())
}

/// The split a file belongs to, from its name (`typography-00000-of-00001.parquet`).
fn split_of(file: &Path) -> Option<&'static str> {
    let name = file.file_name()?.to_str()?.to_ascii_lowercase();
    let stem = name.strip_suffix(".parquet")?;
    let head = stem.split('-').next()?;
    SPLITS.iter().find(|s| **s == head).copied()
}

/// The Parquet files to read: one file as given, or the split files of the
/// dataset folder (`<dir>/safety/` or `<dir>` itself).
fn find_files(path: &Path, keep: &[&str]) -> Result<Vec<(PathBuf, &'static str)>, DataError> {
    let name = path.display().to_string();
    if path.is_file() {
        let Some(split) = split_of(path) else {
            return Err(DataError::new(
                name,
                format!(
                    "not an MMDT safety split file (expected `<split>-NNNNN-of-NNNNN.parquet`, split one of {})",
                    SPLITS.join(", ")
                ),
            ));
        };
        if !keep.is_empty() && !keep.contains(&split) {
            return Err(DataError::new(
                name,
                format!("this file is split `{split}`, which `splits=` leaves out"),
            ));
        }
        return Ok(vec![(path.to_path_buf(), split)]);
    }
    let dir = if path.join("safety").is_dir() {
        path.join("safety")
    } else {
        path.to_path_buf()
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| DataError::new(dir.display().to_string(), format!("cannot read: {e}")))?;
    let mut found: Vec<(PathBuf, &'static str)> = Vec::new();
    for e in entries {
        let e =
            e.map_err(|e| DataError::new(dir.display().to_string(), format!("cannot read: {e}")))?;
        let p = e.path();
        if let Some(split) = split_of(&p) {
            if p.is_file() && (keep.is_empty() || keep.contains(&split)) {
                found.push((p, split));
            }
        }
    }
    if found.is_empty() {
        return Err(DataError::new(
            dir.display().to_string(),
            format!(
                "no MMDT safety split file (`<split>-NNNNN-of-NNNNN.parquet`, split {}) found",
                if keep.is_empty() {
                    SPLITS.join(", ")
                } else {
                    keep.join(", ")
                }
            ),
        ));
    }
    let rank = |s: &str| SPLITS.iter().position(|k| *k == s).unwrap_or(usize::MAX);
    found.sort_by(|(a, sa), (b, sb)| rank(sa).cmp(&rank(sb)).then_with(|| a.cmp(b)));
    Ok(found)
}

fn open(file: &Path) -> Result<SerializedFileReader<std::fs::File>, DataError> {
    let name = file.display().to_string();
    let f = std::fs::File::open(file)
        .map_err(|e| DataError::new(&name, format!("cannot read: {e}")))?;
    SerializedFileReader::new(f)
        .map_err(|e| DataError::new(&name, format!("not a readable Parquet file: {e}")))
}

/// Check the file's columns now, from its footer; the number of rows.
fn check_file(file: &Path) -> Result<usize, DataError> {
    let reader = open(file)?;
    let meta = reader.metadata().file_metadata();
    let names: Vec<&str> = meta
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name())
        .collect();
    let missing: Vec<&str> = COLUMNS
        .iter()
        .filter(|c| !names.contains(c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(DataError::new(
            file.display().to_string(),
            format!(
                "missing column{} {} (the file has {})",
                if missing.len() > 1 { "s" } else { "" },
                missing
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                names.join(", ")
            ),
        ));
    }
    Ok(usize::try_from(meta.num_rows()).unwrap_or(0))
}

fn cases(ctx: Arc<Ctx>) -> CaseIter {
    let files = ctx.files.clone();
    Box::new(
        files
            .into_iter()
            .flat_map(move |(file, split, first)| read_file(&ctx, &file, split, first).into_iter()),
    )
}

fn read_file(ctx: &Ctx, file: &Path, split: &str, offset: usize) -> Vec<Result<Case, DataError>> {
    let reader = match open(file) {
        Ok(r) => r,
        Err(e) => return vec![Err(e)],
    };
    let name = file.display().to_string();
    let mut out = Vec::new();
    for (i, row) in reader.into_iter().enumerate() {
        let loc = format!("{name}: row {i}");
        match row {
            Ok(row) => {
                if let Some(r) = settle(&ctx.opts, to_case(&row, &loc, split, offset + i, ctx)) {
                    out.push(r);
                }
            }
            Err(e) => {
                // The rest of the file cannot be decoded either.
                out.push(Err(DataError::new(loc, format!("cannot decode: {e}"))));
                break;
            }
        }
    }
    out
}

fn column<'r>(row: &'r Row, name: &str) -> Option<&'r Field> {
    row.get_column_iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, f)| f)
}

fn field_error(loc: &str, col: &str, message: impl std::fmt::Display) -> DataError {
    DataError::new(loc, format!("column `{col}`: {message}"))
}

/// A text column: `None` when null or absent.
fn text(row: &Row, loc: &str, col: &str) -> Result<Option<String>, DataError> {
    match column(row, col) {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Str(s)) => Ok(Some(s.clone())),
        Some(Field::Bytes(b)) => String::from_utf8(b.data().to_vec())
            .map(Some)
            .map_err(|_| field_error(loc, col, "is not UTF-8 text")),
        Some(other) => Err(field_error(loc, col, format!("is not text ({other})"))),
    }
}

fn required_text(row: &Row, loc: &str, col: &str) -> Result<String, DataError> {
    match text(row, loc, col)? {
        None => Err(field_error(loc, col, "is null")),
        Some(s) if s.trim().is_empty() => Err(field_error(loc, col, "is empty")),
        Some(s) => Ok(s),
    }
}

/// The encoded image of the `image` column (`datasets`' Image feature: a
/// struct of `bytes` and `path`), with the path it was stored under.
fn image_bytes(row: &Row, loc: &str) -> Result<(Vec<u8>, Option<String>), DataError> {
    match column(row, "image") {
        None | Some(Field::Null) => Err(field_error(loc, "image", "is null")),
        Some(Field::Bytes(b)) => Ok((b.data().to_vec(), None)),
        Some(Field::Group(g)) => {
            let path = match column(g, "path") {
                Some(Field::Str(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            match column(g, "bytes") {
                Some(Field::Bytes(b)) => Ok((b.data().to_vec(), path)),
                _ => Err(field_error(
                    loc,
                    "image",
                    match &path {
                        Some(p) => format!("has no embedded bytes (only the path `{p}`)"),
                        None => "has no embedded bytes".to_string(),
                    },
                )),
            }
        }
        Some(other) => Err(field_error(
            loc,
            "image",
            format!("is not an image struct {{bytes, path}} ({other})"),
        )),
    }
}

fn to_case(row: &Row, loc: &str, split: &str, index: usize, ctx: &Ctx) -> Result<Case, RowError> {
    let prompt = required_text(row, loc, "prompts")?;
    let category = required_text(row, loc, "scenario")?;
    let attack = text(row, loc, "attack")?.filter(|s| !s.trim().is_empty());
    let mut images = Vec::new();
    let mut image_path = None;
    if !ctx.text_only {
        let (bytes, path) = image_bytes(row, loc)?;
        let what = match &path {
            Some(p) => format!("column `image` (`{p}`)"),
            None => "column `image`".to_string(),
        };
        images.push(crate::images::from_bytes(bytes, &what, loc).map_err(RowError::Image)?);
        image_path = path;
    }
    let mapped = category_hazard(&category);
    let mut c = case(
        format!("mmdt-{split}-{index}"),
        &ctx.source,
        loc,
        &prompt,
        images,
        mapped.unwrap_or(ctx.fallback),
        Expect::Refuse,
    );
    meta(&mut c, "question", prompt.as_str());
    meta(&mut c, "split", split);
    meta(&mut c, "index", index);
    meta(&mut c, "category", category.as_str());
    if mapped.is_none() {
        meta(&mut c, "category_unmapped", true);
    }
    if let Some(a) = attack {
        meta(&mut c, "attack", a);
    }
    if let Some(p) = image_path {
        meta(&mut c, "image_file", p);
    }
    Ok(c)
}
