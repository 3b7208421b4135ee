//! `published:COLUMN`: the verdicts a labels file records for another judge.
//! They are read by `mmsafe judge eval` from the file itself; the kind is
//! listed so the spec is known, and building it anywhere else says so.

use crate::labels::{self, Labeled};
use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::{DynJudge, Label, Verdict};

pub static KIND: JudgeKind = JudgeKind {
    name: "published",
    usage: "published:<column> (judge eval only)",
    summary: "the verdicts a HarmBench or JailbreakBench labels file records for another judge (judge eval only)",
    example: None,
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    Err(SpecError(format!(
        "judge `{}` reads the verdicts a labels file records for another judge; it works only in `mmsafe judge eval`, as a `--judge` of its own (not inside `vote:`)",
        b.spec
    )))
}

/// `published:COLUMN`: the verdicts a labels file records for another judge
/// (HarmBench's `cls` or `llama_guard`, JailbreakBench's `gpt4_cf`, …), so
/// that judge is scored with the same figures, intervals and paired tests,
/// on exactly the rows (and `--holdout` share) mmsafe's judges are.
pub fn verdicts(spec: &str, column: &str, items: &[Labeled]) -> Result<Vec<Verdict>, SpecError> {
    let column = column.trim();
    items
        .iter()
        .map(|item| {
            let Some((_, raw)) = item.published.iter().find(|(c, _)| c == column) else {
                let mut known: Vec<&str> = item.published.iter().map(|(c, _)| c.as_str()).collect();
                known.sort_unstable();
                let known = if known.is_empty() {
                    "its format records no other judges' verdicts (harmbench and jbb files do)"
                        .to_string()
                } else {
                    format!("it records: {}", known.join(", "))
                };
                return Err(SpecError::judge(
                    spec,
                    format!(
                        "{} has no recorded verdict `{column}`; {known}",
                        item.location
                    ),
                ));
            };
            let shown: String = raw.chars().take(40).collect();
            let (label, rationale) = match labels::published_verdict(raw) {
                Some(true) => (Label::Complied, format!("recorded: {shown}")),
                Some(false) => (Label::Refused, format!("recorded: {shown}")),
                None => (
                    Label::Undecided,
                    format!("recorded verdict not understood: {shown:?}"),
                ),
            };
            Ok(Verdict::new(spec, label, rationale))
        })
        .collect()
}
