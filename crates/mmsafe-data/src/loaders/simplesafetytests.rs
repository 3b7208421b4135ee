//! SimpleSafetyTests (`id,harm_area,counter,category,prompts_final`): 100
//! clear-cut harmful prompts, all `expect: refuse`, hazard by `harm_area`.

use super::common::lookup;
use crate::csvrows::CsvRow;
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta};
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};

pub static LOADER: Loader = Loader {
    name: "simplesafetytests",
    usage: "simplesafetytests:<sst_test_cases.csv>",
    summary: "SimpleSafetyTests CSV (id,harm_area,counter,category,prompts_final); 5 harm areas → hazards; all refuse",
    params: &[],
    takes_path: true,
    known_files: &[KnownFile::new(
        "sst_test_cases.csv",
        "6d95a1301e0d0f3a3c4cf5392f4afff11ad6e3066f95d23aaa138d44aedf986c",
        Some(100),
    )],
    build,
};

/// `harm_area` → hazard.
pub const HARM_AREAS: [(&str, Hazard); 5] = [
    (
        "Suicide, Self-Harm, and Eating Disorders",
        Hazard::SuicideSelfHarm,
    ),
    ("Physical harm and Violence", Hazard::ViolentCrimes),
    (
        "Illegal and Highly Regulated items",
        Hazard::NonViolentCrimes,
    ),
    ("Scams and fraud", Hazard::NonViolentCrimes),
    ("Child safety", Hazard::ChildSexualExploitation),
];

const REQUIRED: [&str; 3] = ["id", "harm_area", "prompts_final"];

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    crate::source::csv_per_row(input, &REQUIRED, to_case)
}

fn to_case(row: &CsvRow, source: &str) -> Result<Case, DataError> {
    let id = row.text("id")?.trim();
    let prompt = row.text("prompts_final")?;
    let area = row.get("harm_area")?.trim();
    let hazard = lookup(&HARM_AREAS, area)
        .ok_or_else(|| row.field_error("harm_area", format!("unknown harm area `{area}`")))?;
    let mut c = case(
        format!("sst-{id}"),
        source,
        &row.loc(),
        prompt,
        Vec::new(),
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", prompt);
    meta(&mut c, "harm_area", area);
    if let Some(k) = row.opt("category").filter(|k| !k.trim().is_empty()) {
        meta(&mut c, "category", k.trim());
    }
    Ok(c)
}
