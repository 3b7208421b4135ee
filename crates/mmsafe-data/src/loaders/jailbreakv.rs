//! JailBreakV-28K CSV (`id,jailbreak_query,redteam_query,format,policy,
//! image_path,from,selected_mini,transfer_from_llm`; methods.md §6.2) and
//! its `RedTeam_2K.csv` (`id,question,policy,from`, text only).
//!
//! The case sends `jailbreak_query` with the image at `image_path` (relative
//! to `images=`, default the CSV's folder); `redteam_query` is kept as the
//! underlying question. All rows are harmful (`expect: refuse`).

use super::common::{self, lookup, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, CsvRow, Header};
use crate::loader::{Input, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use std::path::PathBuf;

pub static LOADER: Loader = Loader {
    name: "jailbreakv",
    usage: "jailbreakv:<JailBreakV_28K.csv|RedTeam_2K.csv>[:images=<dir>,mini=true]",
    summary: "JailBreakV-28K CSV (jailbreak_query,redteam_query,format,policy,image_path,…) or RedTeam_2K; 16 policies → hazards; all refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("mini", "false", "only rows with selected_mini=True (the 280-row mini set)"),
    ],
    takes_path: true,
    // No copy of the data exists here (SOURCE.md: not obtained), so no hashes.
    known_files: &[],
    build,
};

/// JailBreakV `policy` (its 16 safety policies) → hazard.
pub const POLICIES: [(&str, Hazard); 16] = [
    ("Illegal Activity", Hazard::NonViolentCrimes),
    ("Violence", Hazard::ViolentCrimes),
    ("Hate Speech", Hazard::Hate),
    ("Malware", Hazard::NonViolentCrimes),
    ("Physical Harm", Hazard::ViolentCrimes),
    ("Economic Harm", Hazard::NonViolentCrimes),
    ("Fraud", Hazard::NonViolentCrimes),
    ("Child Abuse", Hazard::ChildSexualExploitation),
    ("Animal Abuse", Hazard::ViolentCrimes),
    ("Political Sensitivity", Hazard::Elections),
    ("Privacy Violation", Hazard::Privacy),
    ("Tailored Unlicensed Advice", Hazard::SpecializedAdvice),
    ("Health Consultation", Hazard::SpecializedAdvice),
    ("Government Decision", Hazard::SpecializedAdvice),
    ("Unethical Behavior", Hazard::NonViolentCrimes),
    ("Bias", Hazard::Hate),
];

#[derive(Clone)]
struct Ctx {
    source: String,
    images: Option<PathBuf>,
    redteam: bool,
    mini: bool,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path.to_path_buf();
    let first = csvrows::read(&path, Header::InFile, &["policy"])?
        .next()
        .and_then(Result::ok);
    let redteam = first
        .as_ref()
        .is_some_and(|r| r.has_column("question") && !r.has_column("jailbreak_query"));
    let required: &'static [&'static str] = if redteam {
        &["id", "question", "policy"]
    } else {
        &[
            "id",
            "jailbreak_query",
            "redteam_query",
            "policy",
            "image_path",
        ]
    };
    let _ = csvrows::read(&path, Header::InFile, required)?;
    let images = if redteam {
        None
    } else {
        common::images_dir(input, &[common::parent(&path)])?
    };
    let ctx = Ctx {
        source: input.spec.to_string(),
        images,
        redteam,
        mini: input
            .params
            .bool("mini")
            .map_err(|e| common::param_error(input, e))?,
        opts: input.opts.clone(),
    };
    let len = if ctx.mini {
        None
    } else {
        csvrows::count(&path, Header::InFile)
    };
    Ok(LazySource::new(input.spec, len, move || {
        let ctx = ctx.clone();
        let rows = csvrows::read(&path, Header::InFile, required)?;
        Ok(Box::new(rows.filter_map(move |row| {
            let row = match row {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            if ctx.mini
                && !row
                    .opt("selected_mini")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            {
                return None;
            }
            settle(&ctx.opts, to_case(&row, &ctx))
        })))
    })
    .boxed())
}

fn to_case(row: &CsvRow, ctx: &Ctx) -> Result<Case, RowError> {
    let id = row.text("id")?.trim();
    let policy = row.get("policy")?.trim();
    let hazard = lookup(&POLICIES, policy)
        .or_else(|| lookup(&POLICIES, policy.trim_end_matches(" Content").trim()))
        .ok_or_else(|| {
            row.field_error("policy", format!("unknown JailBreakV policy `{policy}`"))
        })?;
    if ctx.redteam {
        let q = row.text("question")?;
        let mut c = case(
            format!("redteam2k-{id}"),
            &ctx.source,
            &row.loc(),
            q,
            Vec::new(),
            hazard,
            Expect::Refuse,
        );
        meta(&mut c, "question", q);
        meta(&mut c, "policy", policy);
        if let Some(f) = row.opt("from").filter(|f| !f.trim().is_empty()) {
            meta(&mut c, "origin", f.trim());
        }
        return Ok(c);
    }
    let query = row.text("jailbreak_query")?;
    let redteam_query = row.text("redteam_query")?;
    let image_path = row.opt("image_path").unwrap_or("").trim();
    let mut imgs = Vec::new();
    if let (Some(dir), false) = (&ctx.images, image_path.is_empty()) {
        let p = crate::images::resolve(dir, image_path, &row.loc(), "image_path")?;
        imgs.push(row_image(&p, &row.loc())?);
    }
    let mut c = case(
        format!("jailbreakv-{id}"),
        &ctx.source,
        &row.loc(),
        query,
        imgs,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", redteam_query);
    meta(&mut c, "policy", policy);
    for (col, key) in [
        ("format", "format"),
        ("from", "origin"),
        ("image_path", "image_file"),
    ] {
        if let Some(v) = row.opt(col).filter(|v| !v.trim().is_empty()) {
            meta(&mut c, key, v.trim());
        }
    }
    Ok(c)
}
