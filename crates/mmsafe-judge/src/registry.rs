//! Every judge kind, one line each. A kind lives in a file of its own (a
//! `pub static KIND: JudgeKind`); adding a judge is that file and one line in
//! [`JUDGES`]. `tests/conformance.rs` holds every kind to the invariants.

use crate::kinds;
use crate::spec::{Build, JudgeKind, JudgeResolver, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static JUDGES: &[&JudgeKind] = &[
    &kinds::refusal::KIND,
    &kinds::llm::KIND,
    &kinds::llamaguard::KIND,
    &kinds::classifier::KIND,
    &kinds::vote::KIND,
    &kinds::cascade::KIND,
    &kinds::published::KIND,
];

/// The kind a spec names (the longest matching name, so a kind may extend
/// another's name).
pub fn find(spec: &str) -> Option<&'static JudgeKind> {
    let spec = spec.trim();
    JUDGES
        .iter()
        .copied()
        .filter(|k| k.matches(spec))
        .max_by_key(|k| k.name.len())
}

/// Every kind's usage, for error messages.
pub fn known() -> String {
    let kinds = JUDGES
        .iter()
        .map(|k| k.usage)
        .collect::<Vec<_>>()
        .join(", ");
    format!("{kinds}, and any of them followed by :defer=LOW-HIGH")
}

/// Build the judge a spec names, with models from `resolver`.
pub fn build(spec: &str, resolver: &dyn JudgeResolver) -> Result<DynJudge, SpecError> {
    let spec = spec.trim();
    // `:defer=LOW-HIGH` wraps any kind (selective judging), so it is not a
    // kind of its own.
    if let Some(split) = crate::selective::split_spec(spec) {
        let (inner, band) = split.map_err(SpecError)?;
        return Ok(Arc::new(crate::selective::DeferJudge::new(
            build(inner, resolver)?,
            band,
        )));
    }
    let Some(kind) = find(spec) else {
        let head = spec.split(':').next().unwrap_or(spec);
        let names: Vec<&str> = JUDGES.iter().map(|k| k.name).collect();
        let hint = mmsafe_core::params::did_you_mean(head, &names)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        return Err(SpecError(format!(
            "unknown judge `{spec}`{hint} (known: {})",
            known()
        )));
    };
    let rest = spec[kind.name.len()..].strip_prefix(':');
    let member = |m: &str| build(m, resolver);
    (kind.build)(&Build {
        spec,
        rest,
        resolver,
        member: &member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_specs_find_their_kind() {
        let mut names: Vec<&str> = JUDGES.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), JUDGES.len());
        assert_eq!(find("refusal").map(|k| k.name), Some("refusal"));
        assert_eq!(find(" llm:openai:gpt").map(|k| k.name), Some("llm"));
        assert_eq!(find("classifier:head").map(|k| k.name), Some("classifier"));
        assert!(find("refusals").is_none());
        assert!(find("llmx:y").is_none());
    }
}
