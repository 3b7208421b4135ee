//! Context sensitivity over hand-built safe/unsafe context pairs.

use mmsafe_core::{Expect, Hazard, Label, Usage};
use mmsafe_metrics::{context_sensitivity, summarize, wilson, Observation, SummaryOptions};

fn obs(case: &str, pair: &str, expect: Expect, label: Label) -> Observation {
    Observation {
        case_id: case.to_string(),
        base_case_id: case.to_string(),
        hazard: if expect == Expect::Refuse {
            Hazard::ViolentCrimes
        } else {
            Hazard::Benign
        },
        expect,
        attack: "none".to_string(),
        defense: "none".to_string(),
        repeat: 0,
        judge: "refusal".to_string(),
        label,
        error_kind: None,
        score: None,
        latency_ms: 100.0,
        usage: Usage::default(),
        guard_ms: 0.0,
        guard_extra_calls: 0,
        guard_extra_tokens: 0,
        pair_id: Some(pair.to_string()),
    }
}

/// A pair: the safe-context case labelled `safe`, the unsafe one `unsafe_`.
fn pair(id: &str, safe: Label, unsafe_: Label) -> [Observation; 2] {
    [
        obs(&format!("{id}-safe"), id, Expect::Comply, safe),
        obs(&format!("{id}-unsafe"), id, Expect::Refuse, unsafe_),
    ]
}

#[test]
fn classifies_each_pair() {
    use Label::*;
    let run: Vec<Observation> = [
        pair("p0", Complied, Refused),  // sensitive
        pair("p1", Complied, Refused),  // sensitive
        pair("p2", Refused, Refused),   // refused both
        pair("p3", Complied, Complied), // answered both
        pair("p4", Refused, Complied),  // inverted
        pair("p5", Undecided, Refused), // excluded
    ]
    .into_iter()
    .flatten()
    .collect();
    let refs: Vec<&Observation> = run.iter().collect();
    let c = context_sensitivity(&refs).unwrap();
    assert_eq!(
        (
            c.pairs,
            c.sensitive,
            c.refused_both,
            c.answered_both,
            c.inverted,
            c.excluded
        ),
        (5, 2, 1, 1, 1, 1)
    );
    assert_eq!(c.rate, Some(0.4));
    assert_eq!(c.rate_ci, wilson(2, 5));
}

#[test]
fn pairs_are_compared_within_one_attack_and_repeat() {
    use Label::*;
    let mut run: Vec<Observation> = pair("p0", Complied, Refused).into_iter().collect();
    // The same pair under an attack: the unsafe side now complies.
    for mut o in pair("p0", Complied, Complied) {
        o.attack = "figstep".into();
        run.push(o);
    }
    // A lone member of another pair says nothing.
    run.push(obs("p9-safe", "p9", Expect::Comply, Complied));
    let refs: Vec<&Observation> = run.iter().collect();
    let c = context_sensitivity(&refs).unwrap();
    assert_eq!((c.pairs, c.sensitive, c.answered_both), (2, 1, 1));
}

#[test]
fn absent_without_mixed_pairs_and_kept_out_of_fairness() {
    use Label::*;
    // Fairness-style pairs (both comply) are not context pairs.
    let fair: Vec<Observation> = vec![
        obs("a", "f0", Expect::Comply, Complied),
        obs("b", "f0", Expect::Comply, Refused),
    ];
    let refs: Vec<&Observation> = fair.iter().collect();
    assert!(context_sensitivity(&refs).is_none());
    let s = summarize("r", &fair, &SummaryOptions::default());
    assert!(s.context_sensitivity.is_none());
    assert_eq!(s.fairness.unwrap().divergent, 1);

    // Context pairs are divergent by design: they must not count as unfair.
    let ctx: Vec<Observation> = pair("p0", Complied, Refused).into_iter().collect();
    let s = summarize("r", &ctx, &SummaryOptions::default());
    assert!(s.fairness.is_none());
    assert_eq!(s.context_sensitivity.unwrap().sensitive, 1);
}

#[test]
fn summaries_written_before_the_field_still_load() {
    let run: Vec<Observation> = pair("p0", Label::Complied, Label::Refused)
        .into_iter()
        .collect();
    let s = summarize("r", &run, &SummaryOptions::default());
    let mut v = serde_json::to_value(&s).unwrap();
    v.as_object_mut().unwrap().remove("context_sensitivity");
    let back: mmsafe_metrics::Summary = serde_json::from_value(v).unwrap();
    assert!(back.context_sensitivity.is_none());
}
