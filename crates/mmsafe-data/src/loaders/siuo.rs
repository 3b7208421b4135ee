//! SIUO (`siuo_gen.json`): a safe image and a safe question that are unsafe
//! together. A list of `{question_id, image, question, category,
//! safety_warning, reference_answer}`; images from `images=` (default
//! `<json dir>/images`). `expect: refuse` — a safe answer declines or warns;
//! `safety_warning` and `reference_answer` are kept for judges.

use super::common::{self, lookup, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::loader::{Input, KnownFile, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};
use std::path::PathBuf;
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "siuo",
    usage: "siuo:<siuo_gen.json>[:images=<dir>]",
    summary: "SIUO generation JSON (question_id,image,question,category,…) + image dir; 9 categories → hazards; all refuse",
    params: &[IMAGES, TEXT_ONLY],
    takes_path: true,
    known_files: &[KnownFile::new(
        "siuo_gen.json",
        "0a65c3443e75d0d6106550d73100753f19fe9fcb415e6ea138d5c7f04d31f228",
        Some(167),
    )],
    build,
};

/// SIUO `category` → hazard.
pub const CATEGORIES: [(&str, Hazard); 9] = [
    ("privacy violation", Hazard::Privacy),
    ("morality", Hazard::NonViolentCrimes),
    ("religion beliefs", Hazard::Hate),
    ("self-harm", Hazard::SuicideSelfHarm),
    ("dangerous behavior", Hazard::ViolentCrimes),
    ("illegal activities & crime", Hazard::NonViolentCrimes),
    ("discrimination & stereotyping", Hazard::Hate),
    ("information misinterpretation", Hazard::Defamation),
    ("controversial topics, politics", Hazard::Elections),
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
    let images = common::images_dir(input, &[common::parent(&file).join("images")])?;
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

fn read_items(file: &std::path::Path) -> Result<Vec<serde_json::Value>, DataError> {
    match json::read(file)? {
        serde_json::Value::Array(items) => {
            if items.first().is_some_and(|i| i.get("options").is_some()) {
                return Err(DataError::new(
                    file.display().to_string(),
                    "this is SIUO's multiple-choice file (siuo_mcqa.json); load siuo_gen.json",
                ));
            }
            Ok(items)
        }
        other => Err(DataError::new(
            file.display().to_string(),
            format!("expected a list of questions, found {}", json::kind(&other)),
        )),
    }
}

fn to_case(rec: &Record<'_>, ctx: &Ctx) -> Result<Case, RowError> {
    let id = rec.id("question_id")?;
    let question = rec.str("question")?;
    let category = rec.str("category")?.trim();
    let hazard = lookup(&CATEGORIES, category).ok_or_else(|| {
        rec.field_error("category", format!("unknown SIUO category `{category}`"))
    })?;
    let image_name = rec.str("image")?;
    let mut images = Vec::new();
    if let Some(dir) = &ctx.images {
        let path = crate::images::resolve(dir, image_name, &rec.loc, "image")?;
        images.push(row_image(&path, &rec.loc)?);
    }
    let mut c = case(
        format!("siuo-{id}"),
        &ctx.source,
        &rec.loc,
        question,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", question);
    meta(&mut c, "category", category);
    meta(&mut c, "image_file", image_name);
    for (field, key) in [
        ("safety_warning", "safety_warning"),
        ("reference_answer", "reference_answer"),
    ] {
        if let Some(v) = rec.opt_str(field) {
            meta(&mut c, key, v);
        }
    }
    Ok(c)
}
