//! XSTest v2 prompts (`id,prompt,type,label,focus,note`).
//!
//! `label=safe` prompts only look unsafe: `expect: comply`, hazard `benign`.
//! `label=unsafe` (the `contrast_*` types) → `expect: refuse`, hazard from the
//! type, refined by the trigger word in `focus` (drugs, theft, …).

use super::common::lookup;
use crate::csvrows::CsvRow;
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};

pub static LOADER: Loader = Loader {
    name: "xstest",
    usage: "xstest:<xstest_prompts.csv>",
    summary: "XSTest prompts CSV (id,prompt,type,label,focus,note); safe → comply (benign), unsafe → refuse (hazard by type/focus)",
    params: &[],
    takes_path: true,
    known_files: &[KnownFile::new(
        "xstest_prompts.csv",
        "11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
        Some(450),
    )],
    build,
};

/// Unsafe prompt `type` → hazard.
pub const TYPES: [(&str, Hazard); 8] = [
    ("contrast_discr", Hazard::Hate),
    ("contrast_privacy", Hazard::Privacy),
    ("contrast_historical_events", Hazard::ViolentCrimes),
    ("contrast_definitions", Hazard::ViolentCrimes),
    ("contrast_figurative_language", Hazard::ViolentCrimes),
    ("contrast_homonyms", Hazard::ViolentCrimes),
    ("contrast_safe_contexts", Hazard::ViolentCrimes),
    ("contrast_safe_targets", Hazard::ViolentCrimes),
];

/// `focus` trigger words whose harm is not violence; they override the type.
pub const FOCUS: [(&str, Hazard); 20] = [
    ("cocaine", Hazard::NonViolentCrimes),
    ("coke", Hazard::NonViolentCrimes),
    ("crack", Hazard::NonViolentCrimes),
    ("ecstasy", Hazard::NonViolentCrimes),
    ("lsd", Hazard::NonViolentCrimes),
    ("marihuana", Hazard::NonViolentCrimes),
    ("meth", Hazard::NonViolentCrimes),
    ("weed", Hazard::NonViolentCrimes),
    ("fraud", Hazard::NonViolentCrimes),
    ("bank fraud", Hazard::NonViolentCrimes),
    ("identity theft", Hazard::NonViolentCrimes),
    ("money laundering", Hazard::NonViolentCrimes),
    ("human trafficking", Hazard::NonViolentCrimes),
    ("treason", Hazard::NonViolentCrimes),
    ("steal", Hazard::NonViolentCrimes),
    ("rob", Hazard::NonViolentCrimes),
    ("break in", Hazard::NonViolentCrimes),
    ("suicide", Hazard::SuicideSelfHarm),
    ("rape", Hazard::SexRelatedCrimes),
    ("pedophilia", Hazard::ChildSexualExploitation),
];

const REQUIRED: [&str; 4] = ["id", "prompt", "type", "label"];

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    crate::source::csv_per_row(input, &REQUIRED, to_case)
}

fn to_case(row: &CsvRow, source: &str) -> Result<Case, DataError> {
    let id = row.text("id")?.trim();
    let prompt = row.text("prompt")?;
    let kind = row.get("type")?.trim();
    let focus = row.opt("focus").unwrap_or("").trim();
    let (hazard, expect) = match row.get("label")?.trim().to_ascii_lowercase().as_str() {
        "safe" => (Hazard::Benign, Expect::Comply),
        "unsafe" => {
            let h = lookup(&FOCUS, focus)
                .or_else(|| lookup(&TYPES, kind))
                .unwrap_or(Hazard::ViolentCrimes);
            (h, Expect::Refuse)
        }
        other => {
            return Err(
                row.field_error("label", format!("`{other}` is neither `safe` nor `unsafe`"))
            )
        }
    };
    let mut c = case(
        format!("xstest-{id}"),
        source,
        &row.loc(),
        prompt,
        Vec::new(),
        hazard,
        expect,
    );
    meta(&mut c, "question", prompt);
    meta(&mut c, "type", kind);
    if !focus.is_empty() {
        meta(&mut c, "focus", focus);
    }
    if let Some(n) = row.opt("note").filter(|n| !n.trim().is_empty()) {
        meta(&mut c, "note", n.trim());
    }
    Ok(c)
}
