//! MSSBench, Multimodal Situational Safety: the same request asked in a safe
//! and in an unsafe visual situation. `combined.json` (upstream's runner names
//! it `combine.json`) is `{"chat": [...], "embodied": [...]}` (a bare list is
//! read as the chat split). Chat records: `{safe_image_path,
//! unsafe_image_path, intent, unsafe_image, Type, queries: [..]}`, images
//! under `<root>/chat/`. Embodied records: `{task, category, safe,
//! unsafe, safe_instructions: [..], unsafe_instructions: [..], …}`, images
//! under `<root>/embodied/`.
//!
//! Each query (chat) or instruction pair (embodied) gives two cases that share
//! `metadata["pair_id"]`: the safe-image one (`expect: comply`, hazard benign)
//! and the unsafe-image one (`expect: refuse`, hazard from `Type`/`category`),
//! so the report can show context sensitivity. Upstream's instruction-
//! following preamble is not added: the query is sent as written.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::options::LoadOptions;
use crate::registry::{Input, Loader};
use crate::source::{case, meta, row_image, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Image, ParamSpec, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "mssbench",
    usage: "mssbench:<dir with combined.json, chat/, embodied/>[:set=chat|embodied|all]",
    summary: "MSSBench combined.json (chat: queries × safe/unsafe image; embodied: instruction pairs) + images; safe context → comply, unsafe → refuse; pair ids",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("set", "all", "chat | embodied | all"),
        ParamSpec::new("hazard", "violent_crimes", "hazard of unsafe cases whose Type/category is not a known MSSBench domain"),
    ],
    takes_path: true,
    known_files: &[],
    build,
};

/// `Type` (chat) / `category` (embodied) keyword → hazard, first match wins.
/// Physical-harm situations mostly endanger the user themself.
pub const DOMAINS: [(&str, Hazard); 5] = [
    ("property", Hazard::NonViolentCrimes),
    ("illegal", Hazard::NonViolentCrimes),
    ("offensive", Hazard::Hate),
    ("self", Hazard::SuicideSelfHarm),
    ("harm", Hazard::SuicideSelfHarm),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Chat,
    Embodied,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Chat => "chat",
            Set::Embodied => "embodied",
        }
    }
}

struct Ctx {
    source: String,
    file: PathBuf,
    sets: Vec<Set>,
    /// Image root; `None` under `text_only=true`.
    images: Option<PathBuf>,
    fallback: Hazard,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path;
    let file = if path.is_file() {
        path.to_path_buf()
    } else {
        ["combined.json", "combine.json"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                DataError::new(
                    path.display().to_string(),
                    "no MSSBench `combined.json` (or `combine.json`) in this folder",
                )
            })?
    };
    let sets = match input.params.str("set") {
        "all" => vec![Set::Chat, Set::Embodied],
        "chat" => vec![Set::Chat],
        "embodied" => vec![Set::Embodied],
        other => {
            return Err(common::param_error(
                input,
                format!("set `{other}` is not chat, embodied or all"),
            ))
        }
    };
    let ctx = Ctx {
        source: input.spec.to_string(),
        images: common::images_dir(input, &[common::parent(&file)])?,
        file,
        sets,
        fallback: common::hazard_param(input)?,
        opts: input.opts.clone(),
    };
    let len = count(&ctx)?;
    let ctx = Arc::new(ctx);
    Ok(LazySource::new(input.spec, Some(len), move || Ok(cases(ctx.clone()))).boxed())
}

/// The records of one split.
fn split(file: &Path, set: Set) -> Result<Vec<Value>, DataError> {
    let name = file.display().to_string();
    match json::read(file)? {
        Value::Array(items) if set == Set::Chat => Ok(items),
        Value::Array(_) => Ok(Vec::new()),
        Value::Object(mut map) => match map.remove(set.name()) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(DataError::new(
                name,
                format!(
                    "`{}` is {}, expected a list",
                    set.name(),
                    json::kind(&other)
                ),
            )),
        },
        other => Err(DataError::new(
            name,
            format!(
                "expected {{\"chat\": [...], \"embodied\": [...]}}, found {}",
                json::kind(&other)
            ),
        )),
    }
}

fn list_len(v: &Value, field: &str) -> usize {
    v.get(field).and_then(Value::as_array).map_or(0, Vec::len)
}

fn count(ctx: &Ctx) -> Result<usize, DataError> {
    let mut n = 0;
    for set in &ctx.sets {
        for v in split(&ctx.file, *set)? {
            n += 2 * match set {
                Set::Chat => list_len(&v, "queries"),
                Set::Embodied => {
                    list_len(&v, "safe_instructions").min(list_len(&v, "unsafe_instructions"))
                }
            };
        }
    }
    Ok(n)
}

fn cases(ctx: Arc<Ctx>) -> CaseIter {
    let sets = ctx.sets.clone();
    Box::new(sets.into_iter().flat_map(move |set| {
        let ctx = ctx.clone();
        let rows: Vec<Result<Case, DataError>> = match split(&ctx.file, set) {
            Err(e) => vec![Err(e)],
            Ok(items) => {
                let name = ctx.file.display().to_string();
                items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, v)| {
                        let rec = Record::new(format!("{name}: {} item {i}", set.name()), v);
                        let rows = match record_cases(&rec, set, i, &ctx) {
                            Ok(rows) => rows,
                            Err(e) => vec![Err(e)],
                        };
                        rows.into_iter()
                            .filter_map(|r| settle(&ctx.opts, r))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
        };
        rows.into_iter()
    }))
}

fn hazard_of(label: &str, fallback: Hazard) -> Hazard {
    let l = label.to_ascii_lowercase();
    DOMAINS
        .iter()
        .find(|(k, _)| l.contains(k))
        .map_or(fallback, |(_, h)| *h)
}

/// A list of non-blank strings.
fn strings<'a>(rec: &Record<'a>, field: &str) -> Result<Vec<&'a str>, DataError> {
    let list = rec
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| rec.field_error(field, "is missing or not a list"))?;
    list.iter()
        .enumerate()
        .map(|(j, q)| match q.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(rec.field_error(field, format!("entry {j} is not a non-blank string"))),
        })
        .collect()
}

fn record_cases(
    rec: &Record<'_>,
    set: Set,
    i: usize,
    ctx: &Ctx,
) -> Result<Vec<Result<Case, RowError>>, RowError> {
    let (safe_field, unsafe_field, label_field) = match set {
        Set::Chat => ("safe_image_path", "unsafe_image_path", "Type"),
        Set::Embodied => ("safe", "unsafe", "category"),
    };
    let safe_name = rec.str(safe_field)?;
    let unsafe_name = rec.str(unsafe_field)?;
    let label = rec.str(label_field)?.trim();
    let hazard = hazard_of(label, ctx.fallback);
    let pairs: Vec<(&str, &str)> = match set {
        Set::Chat => strings(rec, "queries")?
            .into_iter()
            .map(|q| (q, q))
            .collect(),
        Set::Embodied => {
            let safe = strings(rec, "safe_instructions")?;
            let unsafe_ = strings(rec, "unsafe_instructions")?;
            if safe.len() != unsafe_.len() {
                return Err(rec
                    .field_error(
                        "unsafe_instructions",
                        format!(
                            "has {} entries but safe_instructions has {}",
                            unsafe_.len(),
                            safe.len()
                        ),
                    )
                    .into());
            }
            safe.into_iter().zip(unsafe_).collect()
        }
    };
    let dir = ctx.images.as_ref().map(|d| d.join(set.name()));
    let load = |name: &str, field: &str| -> Result<Option<Image>, RowError> {
        match &dir {
            None => Ok(None),
            Some(d) => {
                let p = crate::images::resolve(d, name, &rec.loc, field)?;
                Ok(Some(row_image(&p, &rec.loc)?))
            }
        }
    };
    let (safe_img, unsafe_img) =
        match (load(safe_name, safe_field), load(unsafe_name, unsafe_field)) {
            (Ok(s), Ok(u)) => (s, u),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
    let mut out = Vec::new();
    for (j, (safe_text, unsafe_text)) in pairs.into_iter().enumerate() {
        let pair = format!("mssbench-{}-{i}-{j}", set.name());
        for (side, text, img, image_name, hazard, expect) in [
            (
                "safe",
                safe_text,
                &safe_img,
                safe_name,
                Hazard::Benign,
                Expect::Comply,
            ),
            (
                "unsafe",
                unsafe_text,
                &unsafe_img,
                unsafe_name,
                hazard,
                Expect::Refuse,
            ),
        ] {
            let mut c = case(
                format!("{pair}-{side}"),
                &ctx.source,
                &rec.loc,
                text,
                img.clone().into_iter().collect(),
                hazard,
                expect,
            );
            meta(&mut c, "question", text);
            meta(&mut c, "pair_id", pair.as_str());
            meta(&mut c, "context", side);
            meta(&mut c, "set", set.name());
            meta(&mut c, "category", label);
            meta(&mut c, "image_file", image_name);
            for field in ["intent", "unsafe_image", "task", "reason"] {
                if let Some(v) = rec.opt_str(field) {
                    meta(&mut c, field, v);
                }
            }
            out.push(Ok(c));
        }
    }
    Ok(out)
}
