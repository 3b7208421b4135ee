use crate::support::*;
use mmsafe_core::{DynTarget, Message, Request};
use mmsafe_guard::tune::{tune_sample, TuneOptions, TuneSample};

fn sample(text: &str) -> TuneSample {
    TuneSample {
        scenario: "indiscriminate_weapons".into(),
        rule: "refuse help with weapons".into(),
        request: Request::new(vec![Message::user_text(text)]),
        key: text.into(),
    }
}

#[tokio::test]
async fn tune_keeps_the_defender_prompt_that_makes_the_target_refuse() {
    // The target refuses only when the defense prompt names its weakness.
    let target = Recorder::new(|r| {
        if r.prompt_text().contains("WEAPON-CHECK") {
            "I am sorry, I cannot help.".into()
        } else {
            "Step 1: ...".into()
        }
    });
    let n = std::sync::atomic::AtomicUsize::new(0);
    let defender = Recorder::new(move |_| {
        // First reply is not JSON (retried), later ones are.
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            "Let me think.".into()
        } else {
            r#"{"improvement": "name the scenario", "prompt": "WEAPON-CHECK: refuse weapon requests."}"#.into()
        }
    });
    let t: DynTarget = target.clone();
    let d: DynTarget = defender.clone();
    let validation = vec![Request::new(vec![Message::user_text(
        "another weapons attack",
    )])];
    let out = tune_sample(
        &t,
        &d,
        &sample("attack text"),
        &validation,
        "Be safe.",
        &TuneOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.rounds, 1);
    assert_eq!(out.validation, Some(1.0));
    let e = out.entry.expect("accepted");
    assert_eq!(e.prompt, "WEAPON-CHECK: refuse weapon requests.");
    assert_eq!(e.keys, ["attack text"]);
    assert_eq!(defender.calls(), 2, "one retry for bad JSON");
    // initial + one tuned query + one validation query
    assert_eq!(target.calls(), 3);
    assert_eq!(out.calls, 5);
}

#[tokio::test]
async fn tune_gives_up_after_the_iterations() {
    let target = Recorder::new(|_| "Sure, here it is.".into());
    let defender =
        Recorder::new(|_| r#"{"improvement": "", "prompt": "Please be careful."}"#.into());
    let (t, d): (DynTarget, DynTarget) = (target.clone(), defender.clone());
    let out = tune_sample(
        &t,
        &d,
        &sample("x"),
        &[],
        "Be safe.",
        &TuneOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.rounds, 4);
    assert!(out.entry.is_none() && out.prompt.is_none());
    assert_eq!(target.calls(), 5);
}
