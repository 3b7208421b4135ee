//! Human labels: the table, the queue, agreement, calibrated figures, label
//! files, and the browser's filters.

use mmsafe_core::{Case, Expect, Hazard, Label, Response, Verdict};
use mmsafe_store::{
    attempt_key, AttemptFilter, HumanLabel, LabelFileFormat, NewAttempt, NewCase, NewLabel, NewRun,
    Plan, RequestSummary, Store,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

fn plan() -> Plan {
    Plan {
        target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
        suites: vec!["quick".into()],
        attacks: vec!["none".into()],
        defenses: vec!["none".into()],
        judges: vec!["refusal".into(), "other".into()],
        repeats: 1,
        max_tokens: None,
        options: Default::default(),
    }
}

/// 40 harmful cases over two hazards (the judge says complied on every
/// fourth; `other` disagrees on every tenth) and 10 benign ones.
fn fixture() -> (tempfile::TempDir, Store, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    let run = store
        .create_run(&NewRun {
            name: Some("r".into()),
            plan: plan(),
            seed: 11,
            versions: BTreeMap::new(),
        })
        .unwrap();
    let mut cases = Vec::new();
    let mut attempts = Vec::new();
    let mut keys = Vec::new();
    for i in 0..50 {
        let (hazard, expect) = match i {
            0..=19 => (Hazard::Privacy, Expect::Refuse),
            20..=39 => (Hazard::Hate, Expect::Refuse),
            _ => (Hazard::Privacy, Expect::Comply),
        };
        let case = Case::text(
            format!("c{i}"),
            format!("question {i}"),
            hazard,
            expect,
            "t",
        );
        let judged = if i % 4 == 0 {
            Label::Complied
        } else {
            Label::Refused
        };
        let other = if i % 10 == 3 { Label::Complied } else { judged };
        let key = attempt_key(&run.id, &case.id, "none", "none", 0);
        keys.push(key.clone());
        attempts.push(NewAttempt {
            key,
            case_id: case.id.clone(),
            attack: "none".into(),
            defense: "none".into(),
            repeat: 0,
            request: RequestSummary::default(),
            outcome: Ok(Response::text(format!(
                "reply {i} <script>window.__pwned=1</script>"
            ))),
            verdicts: vec![
                Verdict::new("refusal", judged, "r"),
                Verdict::new("other", other, "o"),
            ],
        });
        cases.push(NewCase {
            attack: "none".into(),
            case: Arc::new(case),
        });
    }
    store.put_batch(&run.id, &cases, &attempts).unwrap();
    (dir, store, run.id, keys)
}

fn label(key: &str, who: &str, l: HumanLabel) -> NewLabel {
    NewLabel {
        attempt_key: key.into(),
        annotator: who.into(),
        label: l,
        note: String::new(),
        source: "cli".into(),
    }
}

#[test]
fn labels_replace_per_annotator_and_reject_foreign_attempts() {
    let (_d, mut store, run, keys) = fixture();
    store
        .put_label(&run, &label(&keys[0], "ann", HumanLabel::Refused))
        .unwrap();
    store
        .put_label(&run, &label(&keys[0], "ann", HumanLabel::Complied))
        .unwrap();
    store
        .put_label(&run, &label(&keys[0], "bob", HumanLabel::Unclear))
        .unwrap();
    let ls = store.labels_of(&keys[0]).unwrap();
    assert_eq!(ls.len(), 2);
    assert_eq!(ls[0].label, HumanLabel::Complied);
    let err = store
        .put_label(&run, &label("00ff", "ann", HumanLabel::Refused))
        .unwrap_err();
    assert!(err.to_string().contains("no attempt `00ff`"), "{err}");
    assert!(store.delete_label(&run, &keys[0], "bob").unwrap());
    assert_eq!(store.labels(&run).unwrap().len(), 1);
    // Unique prefixes resolve; garbage does not.
    assert_eq!(
        store.resolve_attempt(&run, &keys[5][..12]).unwrap(),
        keys[5]
    );
    assert!(store.resolve_attempt(&run, "zz").is_err());
}

#[test]
fn queue_starts_with_a_stratified_sample_then_disagreements() {
    let (_d, store, run, keys) = fixture();
    let q = store.queue_order(&run, 11, Some("refusal")).unwrap();
    // Every harmful attempt is in the random order, benign ones are not.
    assert_eq!(q.sample.len(), 40);
    let harmful: HashSet<&String> = keys[..40].iter().collect();
    assert!(q.sample.iter().all(|k| harmful.contains(k)));
    // Proportional allocation: any prefix of 10 holds 5 of each hazard.
    let privacy: HashSet<&String> = keys[..20].iter().collect();
    let first10 = q.sample[..10]
        .iter()
        .filter(|k| privacy.contains(k))
        .count();
    assert_eq!(first10, 5);
    // Same seed, same order; another seed, another order.
    assert_eq!(store.queue_order(&run, 11, None).unwrap().sample, q.sample);
    assert_ne!(store.queue_order(&run, 12, None).unwrap().sample, q.sample);
    // Disagreements (i % 10 == 3) lead the second phase.
    let disagree: Vec<&String> = (0..50).filter(|i| i % 10 == 3).map(|i| &keys[i]).collect();
    assert_eq!(q.uncertain.len(), disagree.len());
    let next = q.next(3, &HashSet::new(), 5);
    assert_eq!(
        &next[..3],
        &q.sample[..3].iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert!(disagree.iter().any(|k| k.as_str() == next[3]));
    let done: HashSet<String> = q.sample[..3].iter().cloned().collect();
    assert_eq!(q.next(3, &done, 1)[0], next[3]);
}

#[test]
fn calibrated_figures_use_only_the_labelled_prefix_of_the_sample() {
    let (_d, mut store, run, keys) = fixture();
    assert_eq!(store.human_calibration(&run, 11, "refusal").unwrap(), None);
    // A disagreement labelled out of order counts in n_labels only.
    store
        .put_label(&run, &label(&keys[3], "ann", HumanLabel::Complied))
        .unwrap();
    let h = store
        .human_calibration(&run, 11, "refusal")
        .unwrap()
        .unwrap();
    assert_eq!(h.n_labels, 1);
    let q = store.queue_order(&run, 11, None).unwrap();
    let in_prefix = q.sample[..1].contains(&keys[3]);
    assert_eq!(h.n_sample, u64::from(in_prefix));
    // Label the whole sample as the judge did, except two misses.
    let idx = |k: &String| keys.iter().position(|x| x == k).unwrap();
    let mut ls = Vec::new();
    for k in &q.sample {
        let i = idx(k);
        let truth = if i % 4 == 0 || i == 1 || i == 2 {
            HumanLabel::HarmfulComplied
        } else {
            HumanLabel::Refused
        };
        ls.push(label(k, "ann", truth));
    }
    store.put_labels(&run, &ls).unwrap();
    let h = store
        .human_calibration(&run, 11, "refusal")
        .unwrap()
        .unwrap();
    assert_eq!(h.n_sample, 40);
    assert_eq!(h.n_compared, 40);
    // Judge: 10 complied (all right); people: 12 successes.
    assert_eq!(h.sensitivity, Some(10.0 / 12.0));
    assert_eq!(h.specificity, Some(1.0));
    assert_eq!(h.asr_raw, Some(0.25));
    let v = h.asr_calibrated.unwrap();
    assert!((v - 0.3).abs() < 1e-9, "{v}");
    let [lo, hi] = h.asr_calibrated_ci.unwrap();
    assert!(lo <= v && v <= hi);
}

#[test]
fn agreement_between_annotators() {
    let (_d, mut store, run, keys) = fixture();
    let mut ls = Vec::new();
    for (i, k) in keys[..10].iter().enumerate() {
        ls.push(label(k, "ann", HumanLabel::Refused));
        let b = if i < 8 {
            HumanLabel::Refused
        } else {
            HumanLabel::Complied
        };
        ls.push(label(k, "bob", b));
        if i % 2 == 0 {
            ls.push(label(k, "cy", HumanLabel::Complied));
        }
    }
    store.put_labels(&run, &ls).unwrap();
    let a = store.annotator_agreement(&run).unwrap();
    assert_eq!(a.annotators, ["ann", "bob", "cy"]);
    assert_eq!(a.shared_items, 10);
    assert_eq!(a.pairs[0].n, 10);
    assert_eq!(a.pairs[0].agreement, Some(0.8));
    assert!(a.fleiss_kappa.is_some());
}

#[test]
fn export_then_import_round_trips_and_judge_files_parse() {
    let (_d, mut store, run, keys) = fixture();
    store
        .put_label(&run, &label(&keys[0], "ann", HumanLabel::HarmfulComplied))
        .unwrap();
    store
        .put_label(&run, &label(&keys[1], "ann", HumanLabel::Refused))
        .unwrap();
    store
        .put_label(&run, &label(&keys[2], "ann", HumanLabel::Unclear))
        .unwrap();
    for format in [LabelFileFormat::Jbb, LabelFileFormat::Jsonl] {
        let mut out = Vec::new();
        let stats = store.export_labels(&run, format, None, &mut out).unwrap();
        assert_eq!((stats.rows, stats.skipped), (2, 1));
        let text = String::from_utf8(out).unwrap();
        match format {
            LabelFileFormat::Jbb => {
                let mut r = csv::Reader::from_reader(text.as_bytes());
                let h = r.headers().unwrap().clone();
                assert_eq!(&h[0], "goal");
                let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
                assert_eq!(&rows[0][2], "1");
                assert_eq!(&rows[1][2], "0");
                assert_eq!(&rows[0][0], "question 0");
            }
            LabelFileFormat::Jsonl => {
                let v: serde_json::Value =
                    serde_json::from_str(text.lines().next().unwrap()).unwrap();
                assert_eq!(v["label"], true);
                assert_eq!(v["human_label"], "harmful-complied");
            }
        }
        // Import under another annotator.
        let n = store
            .import_labels(&run, format, &mut text.as_bytes(), "f", Some("imp"))
            .unwrap();
        assert_eq!(n, 2);
    }
    let imp: Vec<_> = store
        .labels(&run)
        .unwrap()
        .into_iter()
        .filter(|l| l.annotator == "imp")
        .collect();
    assert_eq!(imp.len(), 2);
    assert_eq!(imp[0].label, HumanLabel::HarmfulComplied);
    // A row naming a foreign attempt fails with its line, writing nothing.
    let bad = format!(
        "{{\"attempt_key\":\"{}\",\"label\":1}}\n{{\"attempt_key\":\"abcd\",\"label\":0}}\n",
        keys[5]
    );
    let err = store
        .import_labels(
            &run,
            LabelFileFormat::Jsonl,
            &mut bad.as_bytes(),
            "bad.jsonl",
            Some("x"),
        )
        .unwrap_err();
    assert!(err.to_string().starts_with("bad.jsonl:2:"), "{err}");
    assert!(store.labels_of(&keys[5]).unwrap().is_empty());
}

#[test]
fn browse_filters_and_detail() {
    let (_d, mut store, run, keys) = fixture();
    let all = store
        .browse_attempts(&run, &AttemptFilter::default(), 0, 20)
        .unwrap();
    assert_eq!((all.total, all.rows.len()), (50, 20));
    let f = AttemptFilter {
        disagree: true,
        ..Default::default()
    };
    assert_eq!(store.browse_attempts(&run, &f, 0, 50).unwrap().total, 5);
    let f = AttemptFilter {
        hazard: Some("hate".into()),
        judge: Some("refusal".into()),
        verdict: Some("complied".into()),
        ..Default::default()
    };
    assert_eq!(store.browse_attempts(&run, &f, 0, 50).unwrap().total, 5);
    store
        .put_label(&run, &label(&keys[7], "ann", HumanLabel::Refused))
        .unwrap();
    let f = AttemptFilter {
        labelled: Some(true),
        ..Default::default()
    };
    let p = store.browse_attempts(&run, &f, 0, 50).unwrap();
    assert_eq!(p.rows.len(), 1);
    assert_eq!(
        p.rows[0].labels,
        vec![("ann".to_string(), HumanLabel::Refused)]
    );
    let f = AttemptFilter {
        q: Some("reply 1%".into()),
        ..Default::default()
    };
    assert_eq!(store.browse_attempts(&run, &f, 0, 50).unwrap().total, 0);
    let f = AttemptFilter {
        q: Some("reply 4".into()),
        ..Default::default()
    };
    // reply 4, 40..=49
    assert_eq!(store.browse_attempts(&run, &f, 0, 50).unwrap().total, 11);
    let d = store.attempt_detail(&run, &keys[0]).unwrap().unwrap();
    assert_eq!(d.verdicts.len(), 2);
    assert!(d.reply.unwrap().text.contains("<script>"));
    assert!(store.attempt_detail(&run, "nope").unwrap().is_none());
    let facets = store.facets(&run).unwrap();
    assert_eq!(facets.hazards, ["hate", "privacy"]);
    assert_eq!(facets.judges, ["other", "refusal"]);
    let pairs = store.judge_pairs(&run).unwrap();
    assert_eq!((pairs[0].n, pairs[0].agree), (50, 45));
}

#[test]
fn indexed_browse_agrees_with_sql() {
    let (_d, mut store, run, keys) = fixture();
    store
        .put_label(&run, &label(&keys[7], "ann", HumanLabel::Refused))
        .unwrap();
    let idx = store.run_index(&run).unwrap();
    assert_eq!(idx.len(), 50);
    assert_eq!(idx.facets(), store.facets(&run).unwrap());
    let filters = [
        AttemptFilter::default(),
        AttemptFilter {
            disagree: true,
            ..Default::default()
        },
        AttemptFilter {
            hazard: Some("hate".into()),
            judge: Some("refusal".into()),
            verdict: Some("complied".into()),
            ..Default::default()
        },
        AttemptFilter {
            labelled: Some(true),
            ..Default::default()
        },
        AttemptFilter {
            labelled: Some(false),
            repeat: Some(0),
            ..Default::default()
        },
        AttemptFilter {
            q: Some("reply 4".into()),
            ..Default::default()
        },
        AttemptFilter {
            q: Some("question 1".into()),
            ..Default::default()
        },
        AttemptFilter {
            hazard: Some("no-such".into()),
            ..Default::default()
        },
        AttemptFilter {
            verdict: Some("complied".into()),
            ..Default::default()
        },
    ];
    for f in filters {
        let a = store.browse_attempts(&run, &f, 5, 10).unwrap();
        let b = store.browse_indexed(&idx, &f, 5, 10).unwrap();
        assert_eq!(a.total, b.total, "{f:?}");
        assert_eq!(a.rows, b.rows, "{f:?}");
    }
    assert!(store.attempts_version().unwrap() > 0);
}

#[test]
fn retrying_an_error_row_drops_its_labels() {
    let (_d, mut store, run, _keys) = fixture();
    let case = Case::text("err", "question err", Hazard::Privacy, Expect::Refuse, "t");
    let key = attempt_key(&run, &case.id, "none", "none", 0);
    let mut a = NewAttempt {
        key: key.clone(),
        case_id: case.id.clone(),
        attack: "none".into(),
        defense: "none".into(),
        repeat: 0,
        request: RequestSummary::default(),
        outcome: Err(mmsafe_store::AttemptError {
            kind: "timeout".into(),
            message: "t".into(),
            retries: 0,
            latency_ms: 1.0,
        }),
        verdicts: vec![Verdict::new("refusal", Label::Error, "timeout")],
    };
    let nc = NewCase {
        attack: "none".into(),
        case: Arc::new(case),
    };
    store
        .put_batch(&run, std::slice::from_ref(&nc), std::slice::from_ref(&a))
        .unwrap();
    store
        .put_label(&run, &label(&key, "ann", HumanLabel::Unclear))
        .unwrap();
    a.outcome = Ok(Response::text("I can't."));
    a.verdicts = vec![Verdict::new("refusal", Label::Refused, "r")];
    assert_eq!(
        store.put_batch_replacing_errors(&run, &[nc], &[a]).unwrap(),
        1
    );
    assert!(store.labels_of(&key).unwrap().is_empty());
}
