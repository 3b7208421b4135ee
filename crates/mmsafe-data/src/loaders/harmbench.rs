//! HarmBench behavior CSVs: text (`Behavior,FunctionalCategory,SemanticCategory,
//! Tags,ContextString,BehaviorID`) and multimodal (adds `ImageFileName`,
//! `ImageDescription`, …), the latter with an image folder.
//!
//! Contextual behaviors are sent as `ContextString + "\n\n---\n\n" + Behavior`,
//! HarmBench's own formatting. All rows are harmful (`expect: refuse`).

use super::common::{self, lookup, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, CsvRow, Header};
use crate::loader::{Input, KnownFile, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};
use std::path::PathBuf;

pub static LOADER: Loader = Loader {
    name: "harmbench",
    usage: "harmbench:<behaviors.csv>[:images=<dir>]",
    summary: "HarmBench behavior CSV, text or multimodal (ImageFileName + image dir); SemanticCategory → hazard; all refuse",
    params: &[IMAGES, TEXT_ONLY],
    takes_path: true,
    known_files: &[
        KnownFile::new("harmbench_behaviors_text_all.csv", "8d81accedd38eaaf8b760618622bb888417d1fd0c86eba65c427a16f1cbb4afc", Some(400)),
        KnownFile::new("harmbench_behaviors_text_val.csv", "7bfaaa5e2b9b95002c89e2d33c019f58e9e8496e2fc65d368f1eeb8179e69534", Some(80)),
        KnownFile::new("harmbench_behaviors_text_test.csv", "75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29", Some(320)),
        KnownFile::new("harmbench_behaviors_multimodal_all.csv", "0a4dd6bd0df2a52d1d9ee25f3d018af49b52b61ee2ccdaaac16b9660f753145d", Some(110)),
    ],
    build,
};

/// `SemanticCategory` → hazard for text behaviors.
pub const TEXT_CATEGORIES: [(&str, Hazard); 7] = [
    ("chemical_biological", Hazard::IndiscriminateWeapons),
    ("copyright", Hazard::IntellectualProperty),
    ("cybercrime_intrusion", Hazard::NonViolentCrimes),
    ("harassment_bullying", Hazard::Hate),
    ("harmful", Hazard::ViolentCrimes),
    ("illegal", Hazard::NonViolentCrimes),
    ("misinformation_disinformation", Hazard::Defamation),
];

/// Multimodal `harmful` behaviors infer sensitive attributes of a pictured
/// person (religion, orientation, ancestry, health): privacy, not violence.
pub const MULTIMODAL_OVERRIDES: [(&str, Hazard); 1] = [("harmful", Hazard::Privacy)];

const REQUIRED: [&str; 4] = [
    "Behavior",
    "FunctionalCategory",
    "SemanticCategory",
    "BehaviorID",
];

#[derive(Clone)]
struct Ctx {
    source: String,
    images: Option<PathBuf>,
    multimodal: bool,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path.to_path_buf();
    let multimodal = csvrows::read(&path, Header::InFile, &REQUIRED)?
        .next()
        .and_then(Result::ok)
        .is_some_and(|r| r.has_column("ImageFileName"));
    let dir = common::parent(&path);
    let images = if multimodal {
        common::images_dir(
            input,
            &[
                dir.join("../multimodal_behavior_images"),
                dir.join("images"),
                dir.clone(),
            ],
        )?
    } else {
        None
    };
    let ctx = Ctx {
        source: input.spec.to_string(),
        images,
        multimodal,
        opts: input.opts.clone(),
    };
    let len = csvrows::count(&path, Header::InFile);
    Ok(LazySource::new(input.spec, len, move || {
        let ctx = ctx.clone();
        let rows = csvrows::read(&path, Header::InFile, &REQUIRED)?;
        Ok(Box::new(rows.filter_map(move |row| {
            let r = row.map_err(RowError::Data).and_then(|r| to_case(&r, &ctx));
            settle(&ctx.opts, r)
        })))
    })
    .boxed())
}

fn to_case(row: &CsvRow, ctx: &Ctx) -> Result<Case, RowError> {
    let behavior = row.text("Behavior")?;
    let id = row.text("BehaviorID")?.trim();
    let functional = row.get("FunctionalCategory")?.trim();
    let semantic = row.get("SemanticCategory")?.trim();
    let hazard = ctx
        .multimodal
        .then(|| lookup(&MULTIMODAL_OVERRIDES, semantic))
        .flatten()
        .or_else(|| lookup(&TEXT_CATEGORIES, semantic))
        .ok_or_else(|| {
            row.field_error("SemanticCategory", format!("unknown category `{semantic}`"))
        })?;
    let context = row.opt("ContextString").unwrap_or("").trim();
    let text = if context.is_empty() {
        behavior.to_string()
    } else {
        format!("{context}\n\n---\n\n{behavior}")
    };
    let mut images = Vec::new();
    let mut image_file = None;
    if ctx.multimodal {
        let name = row.text("ImageFileName")?;
        if let Some(dir) = &ctx.images {
            let path = crate::images::resolve(dir, name, &row.loc(), "ImageFileName")?;
            images.push(row_image(&path, &row.loc())?);
        }
        image_file = Some(name);
    }
    let mut c = case(
        format!("harmbench-{id}"),
        &ctx.source,
        &row.loc(),
        &text,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", text.as_str());
    meta(&mut c, "behavior_id", id);
    meta(&mut c, "functional_category", functional);
    meta(&mut c, "semantic_category", semantic);
    for (col, key) in [("Tags", "tags"), ("ImageDescription", "image_description")] {
        if let Some(v) = row.opt(col).filter(|v| !v.trim().is_empty()) {
            meta(&mut c, key, v);
        }
    }
    if !context.is_empty() {
        meta(&mut c, "context", context);
    }
    if let Some(f) = image_file {
        meta(&mut c, "image_file", f);
    }
    Ok(c)
}
