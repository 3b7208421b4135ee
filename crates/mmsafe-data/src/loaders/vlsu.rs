//! VLSU (Apple `ml-vlsu`, `data/VLSU.csv`): image+text pairs graded for the
//! image alone, the text alone and the two together, across 15 harm
//! categories (`C1: …` to `C15: …`). Columns used: `uuid, prompt, web_path,
//! image_grade, consensus_text_grade, consensus_combined_grade,
//! image_category, text_category, combined_category`.
//!
//! The CSV links each image by URL (`web_path`); mmsafe never fetches during a
//! run, so images are read from `images=` (default `<csv dir>/images`) as
//! `<uuid>.<jpg|jpeg|png|webp|gif|bmp>`, downloaded beforehand.
//!
//! The combined grade decides `expect`: `safe` → comply (hazard benign),
//! `unsafe` and `borderline` → refuse (hazard from `combined_category`);
//! `not_sure` rows have no expected behaviour and are never loaded. `grades=`
//! picks which combined grades to load (default `safe+unsafe`).

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, CsvRow, Header};
use crate::registry::{Input, Loader};
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use std::path::PathBuf;
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "vlsu",
    usage: "vlsu:<VLSU.csv>[:images=<dir>,grades=safe+unsafe+borderline]",
    summary: "VLSU CSV (uuid,prompt,web_path,*_grade,*_category) + <uuid>.<ext> images; safe → comply, unsafe/borderline → refuse; C1–C15 → hazards",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("grades", "safe+unsafe", "`+`-separated combined grades to load: safe, unsafe, borderline"),
    ],
    takes_path: true,
    known_files: &[],
    build,
};

/// `combined_category` code → hazard.
pub const CATEGORIES: [(&str, Hazard); 15] = [
    ("C1", Hazard::Hate),              // slurs, hate speech, hate symbols
    ("C2", Hazard::Hate),              // discrimination and unequal treatment
    ("C3", Hazard::NonViolentCrimes),  // drug abuse
    ("C4", Hazard::SuicideSelfHarm),   // self-harm and suicide
    ("C5", Hazard::ViolentCrimes),     // animal violence and gore
    ("C6", Hazard::SexualContent),     // adult explicit sexual material
    ("C7", Hazard::SexualContent),     // adult racy material
    ("C8", Hazard::ViolentCrimes),     // warfare and armed conflicts
    ("C9", Hazard::ViolentCrimes),     // interpersonal violence
    ("C10", Hazard::ViolentCrimes),    // weapons and dangerous objects
    ("C11", Hazard::ViolentCrimes),    // gore and graphic content
    ("C12", Hazard::ViolentCrimes),    // terrorism and violent extremism
    ("C13", Hazard::NonViolentCrimes), // jailbreaks
    ("C14", Hazard::NonViolentCrimes), // inauthentic practices, fraud
    ("C15", Hazard::NonViolentCrimes), // human exploitation
];

pub const GRADES: [&str; 3] = ["safe", "unsafe", "borderline"];
const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];
const REQUIRED: &[&str] = &[
    "uuid",
    "prompt",
    "consensus_combined_grade",
    "combined_category",
];

struct Ctx {
    source: String,
    file: PathBuf,
    images: Option<PathBuf>,
    grades: Vec<String>,
    opts: crate::options::LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let file = input.path.to_path_buf();
    let grades: Vec<String> = input
        .params
        .str("grades")
        .split('+')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = grades.iter().find(|g| !GRADES.contains(&g.as_str())) {
        return Err(common::param_error(
            input,
            format!("grade `{bad}` is not one of {}", GRADES.join(", ")),
        ));
    }
    let _ = csvrows::read(&file, Header::InFile, REQUIRED)?;
    let images = common::images_dir(input, &[common::parent(&file).join("images")])?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        file,
        images,
        grades,
        opts: input.opts.clone(),
    });
    // Rows outside `grades=` are filtered while streaming, so no length hint.
    Ok(LazySource::new(input.spec, None, move || {
        let ctx = ctx.clone();
        let rows = csvrows::read(&ctx.file, Header::InFile, REQUIRED)?;
        Ok(Box::new(rows.filter_map(move |row| {
            let row = match row {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            match to_case(&row, &ctx) {
                Ok(None) => None,
                Ok(Some(c)) => settle(&ctx.opts, Ok(c)),
                Err(e) => settle(&ctx.opts, Err(e)),
            }
        })))
    })
    .boxed())
}

/// `Ok(None)` for a row whose combined grade was not asked for.
fn to_case(row: &CsvRow, ctx: &Ctx) -> Result<Option<Case>, RowError> {
    let loc = row.loc();
    let grade = row
        .text("consensus_combined_grade")?
        .trim()
        .to_ascii_lowercase();
    if !["safe", "unsafe", "borderline", "not_sure"].contains(&grade.as_str()) {
        return Err(row
            .field_error(
                "consensus_combined_grade",
                format!("unknown grade `{grade}` (safe, unsafe, borderline, not_sure)"),
            )
            .into());
    }
    if !ctx.grades.contains(&grade) {
        return Ok(None);
    }
    let uuid = row.text("uuid")?.trim();
    let prompt = row.text("prompt")?;
    let category = row.text("combined_category")?.trim();
    let code = category.split(':').next().unwrap_or("").trim();
    let category_hazard = CATEGORIES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, h)| *h)
        .ok_or_else(|| {
            row.field_error(
                "combined_category",
                format!("unknown VLSU category `{category}` (expected `C1: …` to `C15: …`)"),
            )
        })?;
    let (hazard, expect) = if grade == "safe" {
        (Hazard::Benign, Expect::Comply)
    } else {
        (category_hazard, Expect::Refuse)
    };
    let mut images = Vec::new();
    if let Some(dir) = &ctx.images {
        let mut chosen = None;
        for ext in EXTENSIONS {
            let p = crate::images::resolve(dir, &format!("{uuid}.{ext}"), &loc, "uuid")?;
            if p.is_file() {
                chosen = Some(p);
                break;
            }
        }
        let path = match chosen {
            Some(p) => p,
            None => {
                return Err(RowError::Image(DataError::new(
                    &loc,
                    format!(
                        "image for uuid `{uuid}`: no {uuid}.{{{}}} in `{}` (download `web_path` there first)",
                        EXTENSIONS.join(","),
                        dir.display()
                    ),
                )))
            }
        };
        images.push(row_image(&path, &loc)?);
    }
    let mut c = case(
        format!("vlsu-{uuid}"),
        &ctx.source,
        &loc,
        prompt,
        images,
        hazard,
        expect,
    );
    meta(&mut c, "question", prompt);
    meta(&mut c, "combined_grade", grade.as_str());
    meta(&mut c, "combined_category", category);
    for (col, key) in [
        ("image_grade", "image_grade"),
        ("consensus_text_grade", "text_grade"),
        ("image_category", "image_category"),
        ("text_category", "text_category"),
        ("web_path", "web_path"),
    ] {
        if let Some(v) = row.opt(col).filter(|v| !v.trim().is_empty()) {
            meta(&mut c, key, v.trim());
        }
    }
    if let (Some(i), Some(t)) = (row.opt("image_grade"), row.opt("consensus_text_grade")) {
        // The paper's severity pattern, image_text_combined (e.g. safe_safe_unsafe).
        meta(
            &mut c,
            "severity_pattern",
            format!(
                "{}_{}_{grade}",
                i.trim().to_ascii_lowercase(),
                t.trim().to_ascii_lowercase()
            ),
        );
    }
    Ok(Some(c))
}
