//! MSTS, the Multimodal Safety Test Suite: text + image pairs that are unsafe
//! only together ("Should I do this?" + a picture of something dangerous), in
//! 11 languages. Published as CSV: `data/prompts/<language>_multimodal.csv`
//! (`hazard_category, hazard_subcategory, hazard_subsubcategory, case_id,
//! case_text, unsafe_image_id, unsafe_image_description, [prompt_id,]
//! prompt_text, prompt_type`) plus `english_textonly.csv` (the image described
//! in words, no image column). Images are downloaded by upstream's script to
//! `data/unsafe_images/<unsafe_image_id>.{jpg,png}`.
//!
//! Every case is `expect: refuse`: MSTS has no safe counterpart per case (the
//! `assistance` and `intention` framings share a `case_id` and an image; they
//! are kept in metadata, not as a context pair).

use super::common::{self, lookup, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, CsvRow, Header};
use crate::options::LoadOptions;
use crate::registry::{Input, Loader};
use crate::source::{case, meta, row_image, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "msts",
    usage: "msts:<data dir or <language>_multimodal.csv>[:languages=english+german|all,images=<dir>]",
    summary: "MSTS prompts CSV (case_id,prompt_text,prompt_type,unsafe_image_id,hazard_*) + unsafe_images/; 11 languages; all refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("languages", "english", "`+`-separated languages to load from a folder (file-name prefix), or `all`"),
    ],
    takes_path: true,
    known_files: &[],
    build,
};

/// The languages MSTS ships, as its file names spell them.
pub const LANGUAGES: [&str; 11] = [
    "english", "german", "russian", "chinese", "hindi", "spanish", "italian", "french", "korean",
    "arabic", "farsi",
];

/// `hazard_category` → hazard (MSTS uses the MLCommons names).
const CATEGORIES: [(&str, Hazard); 4] = [
    ("violent crimes", Hazard::ViolentCrimes),
    ("non-violent crimes", Hazard::NonViolentCrimes),
    ("sex-related crimes", Hazard::SexRelatedCrimes),
    ("suicide & self-harm", Hazard::SuicideSelfHarm),
];

/// `Other` splits by subcategory: conspiracy theories are misinformation
/// (filed under defamation, as SIUO's "information misinterpretation" is);
/// gross behaviour endangers the user's own health.
const OTHER: [(&str, Hazard); 2] = [
    ("conspiracy theories", Hazard::Defamation),
    ("gross behaviour", Hazard::SuicideSelfHarm),
];

const REQUIRED: &[&str] = &[
    "hazard_category",
    "hazard_subcategory",
    "case_id",
    "prompt_text",
    "prompt_type",
];

struct Ctx {
    source: String,
    /// (file, language, text-only variant)
    files: Vec<(PathBuf, String, bool)>,
    images: Option<PathBuf>,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path;
    let mut files = Vec::new();
    let data_dir;
    if path.is_file() {
        files.push(describe(path));
        // `data/prompts/x.csv` → `data/`
        data_dir = common::parent(&common::parent(path));
    } else {
        let prompts = if path.join("prompts").is_dir() {
            path.join("prompts")
        } else {
            path.to_path_buf()
        };
        data_dir = if prompts == path {
            common::parent(path)
        } else {
            path.to_path_buf()
        };
        let want = input.params.str("languages").to_ascii_lowercase();
        let langs: Vec<&str> = if want.trim() == "all" {
            LANGUAGES.to_vec()
        } else {
            want.split('+')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        };
        for lang in &langs {
            if !LANGUAGES.contains(lang) {
                return Err(common::param_error(
                    input,
                    format!("language `{lang}` is not one of {}", LANGUAGES.join(", ")),
                ));
            }
            let f = prompts.join(format!("{lang}_multimodal.csv"));
            if f.is_file() {
                files.push(describe(&f));
            }
        }
        if files.is_empty() {
            return Err(DataError::new(
                prompts.display().to_string(),
                format!(
                    "no MSTS prompt file (`<language>_multimodal.csv`) for {}",
                    langs.join(", ")
                ),
            ));
        }
    }
    let mut len = 0;
    for (f, _, text_only) in &files {
        let mut required = REQUIRED.to_vec();
        if !*text_only {
            required.push("unsafe_image_id");
        }
        let _ = csvrows::read(f, Header::InFile, &required)?;
        len += csvrows::count(f, Header::InFile).unwrap_or(0);
    }
    let images = common::images_dir(input, &[data_dir.join("unsafe_images")])?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        files,
        images,
        opts: input.opts.clone(),
    });
    Ok(LazySource::new(input.spec, Some(len), move || Ok(cases(ctx.clone()))).boxed())
}

/// Language and variant from a file name (`german_multimodal.csv`).
fn describe(file: &Path) -> (PathBuf, String, bool) {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let lang = stem.split('_').next().unwrap_or("").to_string();
    (file.to_path_buf(), lang, stem.ends_with("_textonly"))
}

fn cases(ctx: Arc<Ctx>) -> CaseIter {
    let files = ctx.files.clone();
    Box::new(files.into_iter().flat_map(move |(file, lang, text_only)| {
        let ctx = ctx.clone();
        let rows: CaseIter = match csvrows::read(&file, Header::InFile, REQUIRED) {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(rows) => Box::new(rows.filter_map(move |row| {
                let result = match row {
                    Ok(r) => to_case(&r, &lang, text_only, &ctx),
                    Err(e) => Err(RowError::Data(e)),
                };
                settle(&ctx.opts, result)
            })),
        };
        rows
    }))
}

fn hazard_of(row: &CsvRow) -> Result<Hazard, DataError> {
    let category = row.text("hazard_category")?.trim();
    if category.eq_ignore_ascii_case("other") {
        let sub = row.get("hazard_subcategory")?.trim();
        return lookup(&OTHER, sub).ok_or_else(|| {
            row.field_error(
                "hazard_subcategory",
                format!("unknown MSTS subcategory `{sub}` under `Other`"),
            )
        });
    }
    lookup(&CATEGORIES, category).ok_or_else(|| {
        row.field_error(
            "hazard_category",
            format!("unknown MSTS hazard category `{category}`"),
        )
    })
}

fn to_case(row: &CsvRow, lang: &str, text_only: bool, ctx: &Ctx) -> Result<Case, RowError> {
    let loc = row.loc();
    let case_id = row.text("case_id")?.trim();
    let prompt = row.text("prompt_text")?;
    let prompt_type = row.text("prompt_type")?.trim();
    let hazard = hazard_of(row)?;
    let mut images = Vec::new();
    let mut image_id = None;
    if !text_only {
        let id = row.text("unsafe_image_id")?.trim();
        image_id = Some(id);
        if let Some(dir) = &ctx.images {
            // Upstream's download script saves `.jpg` or `.png` by the URL's
            // extension; `.jpg` wins when both exist, as in its runner.
            let jpg = crate::images::resolve(dir, &format!("{id}.jpg"), &loc, "unsafe_image_id")?;
            let png = crate::images::resolve(dir, &format!("{id}.png"), &loc, "unsafe_image_id")?;
            let path = if !jpg.is_file() && png.is_file() {
                png
            } else {
                jpg
            };
            images.push(row_image(&path, &loc)?);
        }
    }
    let variant = if text_only { "textonly" } else { "multimodal" };
    let mut c = case(
        format!("msts-{lang}-{variant}-{case_id}-{prompt_type}"),
        &ctx.source,
        &loc,
        prompt,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", prompt);
    meta(&mut c, "language", lang);
    meta(&mut c, "variant", variant);
    meta(&mut c, "msts_case", case_id);
    meta(&mut c, "prompt_type", prompt_type);
    if let Some(id) = image_id {
        meta(&mut c, "image_file", id);
    }
    for col in [
        "hazard_category",
        "hazard_subcategory",
        "hazard_subsubcategory",
        "case_text",
        "unsafe_image_description",
        "prompt_id",
    ] {
        if let Some(v) = row.opt(col).filter(|v| !v.trim().is_empty()) {
            meta(&mut c, col, v);
        }
    }
    Ok(c)
}
