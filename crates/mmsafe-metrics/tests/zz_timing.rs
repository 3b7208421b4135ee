use mmsafe_core::{Expect, Hazard, Label, Usage};
use mmsafe_metrics::*;
#[test]
fn timing() {
    let mut v = Vec::new();
    for i in 0..100_000u32 {
        for d in ["none", "a", "b"] {
            v.push(Observation {
                case_id: format!("c{}", i % 5000),
                base_case_id: format!("c{}", i % 5000),
                hazard: Hazard::Hate,
                expect: if i % 10 == 0 {
                    Expect::Comply
                } else {
                    Expect::Refuse
                },
                attack: format!("a{}", i % 3),
                defense: d.into(),
                repeat: i / 15000,
                judge: "j".into(),
                label: if i % 3 == 0 {
                    Label::Complied
                } else {
                    Label::Refused
                },
                error_kind: None,
                score: Some(0.5),
                latency_ms: f64::from(i % 100),
                usage: Usage::default(),
                guard_ms: 1.0,
                guard_extra_calls: 0,
                guard_extra_tokens: 0,
                pair_id: None,
            });
        }
    }
    let mut opts = SummaryOptions::default();
    opts.calibration.insert(
        "j".into(),
        JudgeCalibration {
            sensitivity: 0.9,
            specificity: 0.9,
        },
    );
    let t = std::time::Instant::now();
    let s = summarize("x", &v, &opts);
    eprintln!("summarize {} obs: {:?}", v.len(), t.elapsed());
    let pred: Vec<Option<bool>> = (0..2000)
        .map(|i| if i % 17 == 0 { None } else { Some(i % 3 == 0) })
        .collect();
    let gold: Vec<bool> = (0..2000).map(|i| i % 4 == 0).collect();
    let t = std::time::Instant::now();
    let a = agreement(&pred, &gold, 2000, 1);
    eprintln!("agreement 2000: {:?} {:?}", t.elapsed(), a.strict.kappa);
    assert!(s.asr.is_some());
}
