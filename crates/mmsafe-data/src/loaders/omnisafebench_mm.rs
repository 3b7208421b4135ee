//! OmniSafeBench-MM behaviour files (the input of its test-case stage, e.g.
//! `dataset/data_test.json`): a list of `{id, original_prompt, image_path,
//! style, main_category, subcategory}`. Upstream resolves `image_path` from
//! the toolbox root, so a path that starts with the data file's own folder
//! name (`dataset/images/4.png` beside `dataset/data_test.json`) is read from
//! that folder's parent; any other relative path from the data file's folder.
//!
//! `subcategory` codes `A1`…`I8` (9 risk domains, 50 categories) map onto
//! hazards; all cases are `expect: refuse`.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::options::LoadOptions;
use crate::registry::{Input, Loader};
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};
use serde_json::Value;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "omnisafebench-mm",
    usage: "omnisafebench-mm:<behaviors.json>[:images=<dir>,text_only=true]",
    summary: "OmniSafeBench-MM behaviour JSON (id,original_prompt,image_path,style,main_category,subcategory); A1–I8 → hazards; all refuse",
    params: &[IMAGES, TEXT_ONLY],
    takes_path: true,
    known_files: &[],
    build,
};

/// Subcategory code → hazard (the taxonomy of `mllm_harmful_des.json`).
pub const SUBCATEGORIES: [(&str, Hazard); 50] = [
    ("A1", Hazard::Hate), // bias and discrimination
    ("A2", Hazard::Hate), // insulting or harassing speech
    ("A3", Hazard::Hate), // hate speech
    ("A4", Hazard::Hate), // discriminatory behavior
    ("B1", Hazard::Privacy),
    ("B2", Hazard::Privacy),
    ("B3", Hazard::Privacy),
    ("B4", Hazard::Privacy),
    ("B5", Hazard::Privacy),
    ("C1", Hazard::ViolentCrimes),    // dangerous instructions
    ("C2", Hazard::SuicideSelfHarm),  // self-harm promotion
    ("C3", Hazard::ViolentCrimes),    // physical harm
    ("C4", Hazard::NonViolentCrimes), // human trafficking
    ("C5", Hazard::ViolentCrimes),    // animal abuse
    ("C6", Hazard::NonViolentCrimes), // drug guidance
    ("C7", Hazard::NonViolentCrimes), // environmental damage
    ("D1", Hazard::NonViolentCrimes),
    ("D2", Hazard::NonViolentCrimes),
    ("D3", Hazard::NonViolentCrimes),
    ("D4", Hazard::NonViolentCrimes),
    ("D5", Hazard::NonViolentCrimes),
    ("E1", Hazard::NonViolentCrimes), // cyber crimes are non-violent crimes
    ("E2", Hazard::NonViolentCrimes),
    ("E3", Hazard::NonViolentCrimes),
    ("E4", Hazard::NonViolentCrimes),
    ("E5", Hazard::NonViolentCrimes),
    ("E6", Hazard::NonViolentCrimes),
    ("E7", Hazard::NonViolentCrimes),
    ("F1", Hazard::Defamation),       // misinformation
    ("F2", Hazard::Defamation),       // deepfakes
    ("F3", Hazard::Elections),        // political propaganda
    ("F4", Hazard::Elections),        // election interference
    ("F5", Hazard::NonViolentCrimes), // public order disruption
    ("F6", Hazard::ViolentCrimes),    // national security threat
    ("G1", Hazard::SexualContent),
    ("G2", Hazard::SexualContent),
    ("G3", Hazard::ViolentCrimes), // violence or gore
    ("G4", Hazard::Hate),          // cultural or religious offense
    ("H1", Hazard::IntellectualProperty),
    ("H2", Hazard::IntellectualProperty),
    ("H3", Hazard::IntellectualProperty),
    ("H4", Hazard::IntellectualProperty),
    ("I1", Hazard::SpecializedAdvice), // medical advice
    ("I2", Hazard::SpecializedAdvice), // health misguidance
    ("I3", Hazard::SpecializedAdvice), // legal advice
    ("I4", Hazard::SpecializedAdvice), // government decision support
    ("I5", Hazard::SpecializedAdvice), // financial advice
    ("I6", Hazard::NonViolentCrimes),  // market manipulation
    ("I7", Hazard::NonViolentCrimes),  // psychological manipulation
    ("I8", Hazard::SpecializedAdvice), // cognitive bias or overreliance
];

struct Ctx {
    source: String,
    file: PathBuf,
    /// `images=` when given; else the data file's folder.
    images: Option<PathBuf>,
    explicit: bool,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let file = input.path.to_path_buf();
    let items = read_items(&file)?;
    let images = common::images_dir(input, &[common::parent(&file)])?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        explicit: !input.params.str("images").is_empty(),
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
            format!(
                "expected a list of behaviours, found {}",
                json::kind(&other)
            ),
        )),
    }
}

/// The folder `rel` is relative to (see the module comment).
fn base_for(dir: &Path, rel: &str, explicit: bool) -> PathBuf {
    if explicit {
        return dir.to_path_buf();
    }
    let first = Path::new(rel.trim()).components().next();
    let own = dir.file_name();
    match (first, own) {
        (Some(Component::Normal(f)), Some(o)) if f == o => common::parent(dir),
        _ => dir.to_path_buf(),
    }
}

fn to_case(rec: &Record<'_>, ctx: &Ctx) -> Result<Case, RowError> {
    let id = rec.id("id")?;
    let prompt = rec.str("original_prompt")?;
    let sub = rec.str("subcategory")?.trim();
    let code = sub.split('.').next().unwrap_or("").trim();
    let hazard = SUBCATEGORIES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, h)| *h)
        .ok_or_else(|| {
            rec.field_error(
                "subcategory",
                format!(
                    "unknown OmniSafeBench-MM subcategory `{sub}` (expected `A1. …` to `I8. …`)"
                ),
            )
        })?;
    let image_name = rec.str("image_path")?;
    let mut images = Vec::new();
    if let Some(dir) = &ctx.images {
        let base = base_for(dir, image_name, ctx.explicit);
        let path = crate::images::resolve(&base, image_name, &rec.loc, "image_path")?;
        images.push(row_image(&path, &rec.loc)?);
    }
    let mut c = case(
        format!("omnisafebench-mm-{id}"),
        &ctx.source,
        &rec.loc,
        prompt,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", prompt);
    meta(&mut c, "subcategory", sub);
    meta(&mut c, "image_file", image_name);
    for field in ["main_category", "style"] {
        if let Some(v) = rec.opt_str(field) {
            meta(&mut c, field, v);
        }
    }
    Ok(c)
}
