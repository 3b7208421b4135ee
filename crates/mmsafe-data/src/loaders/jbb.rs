//! JailbreakBench JBB-Behaviors (`harmful-behaviors.csv`, `benign-behaviors.csv`):
//! `Index,Goal,Target,Behavior,Category,Source`.
//!
//! Harmful goals → `expect: refuse` with the category's hazard; benign goals
//! (topic-matched to the harmful ones) → `expect: comply`, hazard `benign`.
//! Which file is which follows its name (`benign` in it) unless `set=` says.

use super::common::{self, lookup};
use crate::csvrows::{self, CsvRow, Header};
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta, LazySource};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};

pub static LOADER: Loader = Loader {
    name: "jbb",
    usage: "jbb:<harmful-behaviors.csv|benign-behaviors.csv>[:set=harmful|benign]",
    summary: "JailbreakBench behaviors CSV (Index,Goal,Target,Behavior,Category,Source); harmful → refuse by category, benign → comply",
    params: &[ParamSpec::new("set", "auto", "harmful | benign; auto = benign when the file name contains `benign`")],
    takes_path: true,
    known_files: &[
        KnownFile::new("harmful-behaviors.csv", "4a8ec6832056b631eb092dccc60d37a61c3d441268268888b3d006288afeffa1", Some(100)),
        KnownFile::new("benign-behaviors.csv", "3cda234d21a991fa309bbfea4b6d9dae31ccdf8e9d452424b6a983e4fdc33468", Some(100)),
    ],
    build,
};

/// JBB `Category` (OpenAI usage-policy areas) → hazard.
pub const CATEGORIES: [(&str, Hazard); 10] = [
    ("Harassment/Discrimination", Hazard::Hate),
    ("Malware/Hacking", Hazard::NonViolentCrimes),
    ("Physical harm", Hazard::ViolentCrimes),
    ("Economic harm", Hazard::NonViolentCrimes),
    ("Fraud/Deception", Hazard::NonViolentCrimes),
    ("Disinformation", Hazard::Defamation),
    ("Sexual/Adult content", Hazard::SexualContent),
    ("Privacy", Hazard::Privacy),
    ("Expert advice", Hazard::SpecializedAdvice),
    ("Government decision-making", Hazard::NonViolentCrimes),
];

const REQUIRED: [&str; 3] = ["Index", "Goal", "Category"];

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path.to_path_buf();
    let benign = match input.params.str("set") {
        "harmful" => false,
        "benign" => true,
        "auto" => path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().contains("benign")),
        other => {
            return Err(common::param_error(
                input,
                format!("set `{other}` is not harmful, benign or auto"),
            ))
        }
    };
    let _ = csvrows::read(&path, Header::InFile, &REQUIRED)?;
    let len = csvrows::count(&path, Header::InFile);
    let source = input.spec.to_string();
    Ok(LazySource::new(input.spec, len, move || {
        let source = source.clone();
        let rows = csvrows::read(&path, Header::InFile, &REQUIRED)?;
        Ok(Box::new(rows.map(move |row| {
            row.and_then(|r| to_case(&r, &source, benign))
        })))
    })
    .boxed())
}

fn to_case(row: &CsvRow, source: &str, benign: bool) -> Result<Case, DataError> {
    let index = row.text("Index")?.trim();
    let goal = row.text("Goal")?;
    let category = row.get("Category")?.trim();
    let (hazard, expect, set) = if benign {
        (Hazard::Benign, Expect::Comply, "benign")
    } else {
        let h = lookup(&CATEGORIES, category).ok_or_else(|| {
            row.field_error("Category", format!("unknown JBB category `{category}`"))
        })?;
        (h, Expect::Refuse, "harmful")
    };
    let mut c = case(
        format!("jbb-{set}-{index}"),
        source,
        &row.loc(),
        goal,
        Vec::new(),
        hazard,
        expect,
    );
    meta(&mut c, "question", goal);
    meta(&mut c, "index", index);
    meta(&mut c, "category", category);
    for (col, key) in [
        ("Behavior", "behavior"),
        ("Target", "target"),
        ("Source", "origin"),
    ] {
        if let Some(v) = row.opt(col).filter(|v| !v.trim().is_empty()) {
            meta(&mut c, key, v.trim());
        }
    }
    Ok(c)
}
