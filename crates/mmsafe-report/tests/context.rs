//! Context sensitivity shows in every renderer when a run has context pairs,
//! and nowhere when it has none.

use mmsafe_core::{Expect, Hazard, Label, Usage};
use mmsafe_metrics::{summarize, Observation, SummaryOptions};
use mmsafe_report::{render_html, render_markdown, render_terminal};

fn obs(pair: &str, expect: Expect, label: Label) -> Observation {
    let side = if expect == Expect::Comply {
        "safe"
    } else {
        "unsafe"
    };
    Observation {
        case_id: format!("{pair}-{side}"),
        base_case_id: format!("{pair}-{side}"),
        hazard: if expect == Expect::Comply {
            Hazard::Benign
        } else {
            Hazard::SuicideSelfHarm
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

#[test]
fn rendered_when_pairs_exist() {
    use Label::*;
    let run = vec![
        obs("p0", Expect::Comply, Complied),
        obs("p0", Expect::Refuse, Refused),
        obs("p1", Expect::Comply, Refused),
        obs("p1", Expect::Refuse, Refused),
    ];
    let s = summarize("r-ctx", &run, &SummaryOptions::default());
    let md = render_markdown(&s);
    assert!(
        md.contains("context sensitivity: answered the safe context and refused the unsafe one in 1 of 2 pairs"),
        "{md}"
    );
    assert!(
        md.contains("refused both 1, answered both 0, inverted 0"),
        "{md}"
    );
    assert!(render_terminal(&s).contains("context sensitivity"));
    let html = render_html(&s);
    assert!(html.contains("Context sensitivity"), "{html}");
    assert!(
        !md.contains("fairness"),
        "context pairs are not fairness pairs: {md}"
    );
}

#[test]
fn absent_without_pairs() {
    let run = vec![obs("p0", Expect::Refuse, Label::Refused)];
    let s = summarize("r", &run, &SummaryOptions::default());
    assert!(!render_markdown(&s).contains("context sensitivity"));
    assert!(!render_html(&s).contains("Context sensitivity"));
}
