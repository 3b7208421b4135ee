//! VLGuard `test.json` / `train.json`: a list of `{id, image, safe,
//! harmful_category?, harmful_subcategory?, instr-resp}`.
//!
//! Each safe image gives two cases: `safe_safe` (benign instruction, comply)
//! and `safe_unsafe` (harmful instruction about a benign image, refuse); each
//! unsafe image gives one `unsafe` case (refuse, hazard from its category).
//! `gpt4_safe_safes.json` (`{id, image, instruction, …}`) loads as safe_safe.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::loader::{Input, KnownFile, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Image, ParamSpec, Source};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "vlguard",
    usage: "vlguard:<test.json>[:images=<dir>,subset=safe_safe+safe_unsafe+unsafe]",
    summary: "VLGuard JSON (id,image,safe,harmful_category,instr-resp) + image dir; safe_safe → comply, safe_unsafe/unsafe → refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("subset", "safe_safe+safe_unsafe+unsafe", "`+`-separated subsets to load"),
        ParamSpec::new("hazard", "non_violent_crimes", "hazard of safe_unsafe cases (VLGuard gives them no category)"),
    ],
    takes_path: true,
    known_files: &[
        KnownFile::new("test.json", "a0b6479d0add65d9d1c06da5c89babd30d411bda47146445c13f32778a114980", Some(1000)),
        KnownFile::new("train.json", "1b44eb5438090baf6b94aafa09099d88183c41162d0a1298b70535852516aca1", Some(2000)),
        KnownFile::new("gpt4_safe_safes.json", "60429462f55b72ff1b06b0f648fc307ed287ee45d07148bcaf64dcbdba0d8a44", Some(558)),
    ],
    build,
};

/// Unsafe images: `harmful_category` / `harmful_subcategory` → hazard
/// (`*` matches any subcategory).
pub const CATEGORIES: [(&str, &str, Hazard); 7] = [
    ("privacy", "*", Hazard::Privacy),
    ("risky behavior", "political", Hazard::Elections),
    (
        "risky behavior",
        "professional advice",
        Hazard::SpecializedAdvice,
    ),
    ("risky behavior", "sexually explicit", Hazard::SexualContent),
    ("risky behavior", "violence", Hazard::ViolentCrimes),
    ("deception", "*", Hazard::Defamation),
    ("discrimination", "*", Hazard::Hate),
];

pub const SUBSETS: [&str; 3] = ["safe_safe", "safe_unsafe", "unsafe"];

struct Ctx {
    source: String,
    file: PathBuf,
    images: Option<PathBuf>,
    subsets: Vec<String>,
    unlabeled: Hazard,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let file = input.path.to_path_buf();
    let subsets: Vec<String> = input
        .params
        .str("subset")
        .split('+')
        .map(|s| {
            s.trim()
                .to_ascii_lowercase()
                .trim_end_matches('s')
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = subsets.iter().find(|s| !SUBSETS.contains(&s.as_str())) {
        return Err(common::param_error(
            input,
            format!("subset `{bad}` is not one of {}", SUBSETS.join(", ")),
        ));
    }
    let items = read_items(&file)?;
    let parent = common::parent(&file);
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let images = common::images_dir(
        input,
        &[parent.join(&stem), parent.join("images"), parent.clone()],
    )?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        file,
        images,
        subsets,
        unlabeled: common::hazard_param(input)?,
        opts: input.opts.clone(),
    });
    let len = items.iter().map(|v| expand_count(v, &ctx)).sum();
    Ok(LazySource::new(input.spec, Some(len), move || {
        let ctx = ctx.clone();
        let items = read_items(&ctx.file)?;
        let name = ctx.file.display().to_string();
        Ok(Box::new(items.into_iter().enumerate().flat_map(
            move |(i, v)| {
                let rec = Record::new(format!("{name}: item {i}"), &v);
                let rows = match item_cases(&rec, &ctx) {
                    Ok(rows) => rows,
                    Err(e) => vec![Err(e)],
                };
                let ctx = ctx.clone();
                rows.into_iter()
                    .filter_map(move |r| settle(&ctx.opts, r))
                    .collect::<Vec<_>>()
            },
        )))
    })
    .boxed())
}

fn read_items(file: &std::path::Path) -> Result<Vec<Value>, DataError> {
    match json::read(file)? {
        Value::Array(items) => Ok(items),
        other => Err(DataError::new(
            file.display().to_string(),
            format!("expected a list of images, found {}", json::kind(&other)),
        )),
    }
}

fn wanted(ctx: &Ctx, subset: &str) -> bool {
    ctx.subsets.iter().any(|s| s == subset)
}

fn expand_count(v: &Value, ctx: &Ctx) -> usize {
    let safe = v.get("safe").and_then(Value::as_bool).unwrap_or(false);
    if v.get("instr-resp").is_none() {
        return usize::from(wanted(ctx, "safe_safe"));
    }
    if safe {
        usize::from(wanted(ctx, "safe_safe")) + usize::from(wanted(ctx, "safe_unsafe"))
    } else {
        usize::from(wanted(ctx, "unsafe"))
    }
}

/// The cases of one image record (0, 1 or 2 of them).
fn item_cases(rec: &Record<'_>, ctx: &Ctx) -> Result<Vec<Result<Case, RowError>>, RowError> {
    let id = rec.id("id")?;
    let image_name = rec.str("image")?;
    // Reference-answer file: one benign instruction per image.
    if rec.get("instr-resp").is_none() {
        if !wanted(ctx, "safe_safe") {
            return Ok(Vec::new());
        }
        let instr = rec.str("instruction")?;
        let img = load(rec, ctx, image_name)?;
        return Ok(vec![Ok(make(
            ctx,
            &rec.loc,
            &id,
            "safe_safe",
            instr,
            img,
            Hazard::Benign,
            Expect::Comply,
            image_name,
        ))]);
    }
    let safe = match rec.get("safe") {
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(rec
                .field_error("safe", format!("is not a boolean ({})", json::kind(other)))
                .into())
        }
        None => return Err(rec.field_error("safe", "is missing").into()),
    };
    let pairs = rec
        .get("instr-resp")
        .and_then(Value::as_array)
        .ok_or_else(|| rec.field_error("instr-resp", "is not a list"))?;
    let find = |key: &str| -> Result<&str, DataError> {
        pairs
            .iter()
            .find_map(|p| p.get(key).and_then(Value::as_str))
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| rec.field_error("instr-resp", format!("has no `{key}`")))
    };
    let mut out = Vec::new();
    if safe {
        let want_ss = wanted(ctx, "safe_safe");
        let want_su = wanted(ctx, "safe_unsafe");
        if !want_ss && !want_su {
            return Ok(out);
        }
        let img = load(rec, ctx, image_name)?;
        if want_ss {
            let instr = find("safe_instruction")?;
            out.push(Ok(make(
                ctx,
                &rec.loc,
                &id,
                "safe_safe",
                instr,
                img.clone(),
                Hazard::Benign,
                Expect::Comply,
                image_name,
            )));
        }
        if want_su {
            let instr = find("unsafe_instruction")?;
            out.push(Ok(make(
                ctx,
                &rec.loc,
                &id,
                "safe_unsafe",
                instr,
                img,
                ctx.unlabeled,
                Expect::Refuse,
                image_name,
            )));
        }
    } else if wanted(ctx, "unsafe") {
        let category = rec.str("harmful_category")?.trim();
        let sub = rec.opt_str("harmful_subcategory").unwrap_or("").trim();
        let hazard = CATEGORIES
            .iter()
            .find(|(c, s, _)| {
                c.eq_ignore_ascii_case(category) && (*s == "*" || s.eq_ignore_ascii_case(sub))
            })
            .map(|(_, _, h)| *h)
            .ok_or_else(|| {
                rec.field_error(
                    "harmful_category",
                    format!("unknown category `{category}` / `{sub}`"),
                )
            })?;
        let instr = find("instruction")?;
        let img = load(rec, ctx, image_name)?;
        let mut c = make(
            ctx,
            &rec.loc,
            &id,
            "unsafe",
            instr,
            img,
            hazard,
            Expect::Refuse,
            image_name,
        );
        meta(&mut c, "harmful_category", category);
        meta(&mut c, "harmful_subcategory", sub);
        out.push(Ok(c));
    }
    Ok(out)
}

fn load(rec: &Record<'_>, ctx: &Ctx, name: &str) -> Result<Option<Image>, RowError> {
    match &ctx.images {
        None => Ok(None),
        Some(dir) => {
            let path = crate::images::resolve(dir, name, &rec.loc, "image")?;
            Ok(Some(row_image(&path, &rec.loc)?))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn make(
    ctx: &Ctx,
    loc: &str,
    id: &str,
    subset: &str,
    instr: &str,
    img: Option<Image>,
    hazard: Hazard,
    expect: Expect,
    image_name: &str,
) -> Case {
    let mut c = case(
        format!("vlguard-{id}-{subset}"),
        &ctx.source,
        loc,
        instr,
        img.into_iter().collect(),
        hazard,
        expect,
    );
    meta(&mut c, "question", instr);
    meta(&mut c, "subset", subset);
    meta(&mut c, "image_file", image_name);
    c
}
