//! VLSBench (`data.json`): image+text pairs whose risk is visible only in the
//! image, the text being harmless on its own ("visual leak-free"). A list of
//! `{instruction_id, instruction, image_path, category, sub_category, source,
//! image_description, safety_reason}`; `image_path` (`imgs/<id>.png`) is
//! relative to the folder of `data.json` in the Hugging Face release.
//! `expect: refuse` — a safe answer declines or warns (the paper scores
//! refusals and safe-with-warning answers alike as safe).

use super::common::{self, lookup, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::options::LoadOptions;
use crate::registry::{Input, KnownFile, Loader};
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "vlsbench",
    usage: "vlsbench:<data.json>[:images=<dir>,text_only=true]",
    summary: "VLSBench data.json (instruction_id,instruction,image_path,category,…) + imgs/; 6 categories → hazards; all refuse",
    params: &[IMAGES, TEXT_ONLY],
    takes_path: true,
    known_files: &[KnownFile::new(
        "data.json",
        "a42245e79ab67fc9a08e4e35d3a4eba5ae85151d5ca5cd45821c53b22b175fdf",
        Some(2241),
    )],
    build,
};

/// VLSBench `category` → hazard.
pub const CATEGORIES: [(&str, Hazard); 6] = [
    ("violent", Hazard::ViolentCrimes),
    ("illegal activity", Hazard::NonViolentCrimes),
    ("self-harm", Hazard::SuicideSelfHarm),
    ("erotic", Hazard::SexualContent),
    ("hate", Hazard::Hate),
    ("privacy", Hazard::Privacy),
];

struct Ctx {
    source: String,
    file: PathBuf,
    images: Option<PathBuf>,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let file = input.path.to_path_buf();
    let items = read_items(&file)?;
    let images = common::images_dir(input, &[common::parent(&file)])?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        file,
        images,
        opts: input.opts.clone(),
    });
    Ok(LazySource::new(input.spec, Some(items.len()), move || {
        let ctx = ctx.clone();
        let items = read_items(&ctx.file)?;
        let name = ctx.file.display().to_string();
        Ok(Box::new(items.into_iter().enumerate().filter_map(
            move |(i, v)| {
                let rec = Record::new(format!("{name}: item {i}"), &v);
                settle(&ctx.opts, to_case(&rec, &ctx))
            },
        )))
    })
    .boxed())
}

fn read_items(file: &Path) -> Result<Vec<Value>, DataError> {
    match json::read(file)? {
        Value::Array(items) => Ok(items),
        other => Err(DataError::new(
            file.display().to_string(),
            format!("expected a list of items, found {}", json::kind(&other)),
        )),
    }
}

fn to_case(rec: &Record<'_>, ctx: &Ctx) -> Result<Case, RowError> {
    let id = rec.id("instruction_id")?;
    let instruction = rec.str("instruction")?;
    let category = rec.str("category")?.trim();
    let hazard = lookup(&CATEGORIES, category).ok_or_else(|| {
        rec.field_error(
            "category",
            format!("unknown VLSBench category `{category}`"),
        )
    })?;
    let image_name = rec.str("image_path")?;
    let mut images = Vec::new();
    if let Some(dir) = &ctx.images {
        let path = crate::images::resolve(dir, image_name, &rec.loc, "image_path")?;
        images.push(row_image(&path, &rec.loc)?);
    }
    let mut c = case(
        format!("vlsbench-{id}"),
        &ctx.source,
        &rec.loc,
        instruction,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", instruction);
    meta(&mut c, "category", category);
    meta(&mut c, "image_file", image_name);
    for field in [
        "sub_category",
        "source",
        "image_description",
        "safety_reason",
    ] {
        if let Some(v) = rec.opt_str(field) {
            meta(&mut c, field, v);
        }
    }
    Ok(c)
}
