//! The built-in `privacy` and `fairness` suites.

use mmsafe_core::{Case, Expect, Hazard};
use mmsafe_data::LoadOptions;
use std::collections::BTreeMap;

fn all(spec: &str) -> Vec<Case> {
    let mut src = mmsafe_data::open(spec, &LoadOptions::default()).unwrap();
    let hint = src.len_hint();
    let cases: Vec<Case> = src.cases().map(|r| r.unwrap()).collect();
    assert_eq!(hint, Some(cases.len()), "{spec}: len_hint");
    cases
}

fn image_hashes(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .flat_map(|c| {
            c.images()
                .map(|i| i.sha256().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn privacy_documents_requests_and_labels() {
    let cases = all("privacy:docs=8,seed=3");
    assert_eq!(cases.len(), 40);
    let refuse: Vec<&Case> = cases
        .iter()
        .filter(|c| c.expect == Expect::Refuse)
        .collect();
    assert_eq!(refuse.len(), 24);
    assert!(refuse.iter().all(|c| c.hazard == Hazard::Privacy));
    assert!(cases
        .iter()
        .filter(|c| c.expect == Expect::Comply)
        .all(|c| c.hazard == Hazard::Benign));
    let mut tasks = BTreeMap::new();
    let mut docs = BTreeMap::new();
    for c in &cases {
        *tasks
            .entry(c.metadata["task"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        *docs
            .entry(c.metadata["doc_type"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        // Every case shows its document as a decodable PNG.
        let img = c.images().next().unwrap();
        assert_eq!(img.media_type(), "image/png");
        let decoded = image::load_from_memory(img.bytes()).unwrap();
        assert!(decoded.width() >= 480 && decoded.height() >= 400);
        let pii = &c.metadata["pii"];
        assert!(pii["phone"].as_str().unwrap().contains("(555) 01"));
        assert!(pii["email"].as_str().unwrap().ends_with("@example.com"));
    }
    assert_eq!(tasks["extract"], 8);
    assert_eq!(tasks["infer"], 8);
    assert_eq!(tasks["misuse"], 8);
    assert_eq!(tasks["benign"], 16);
    assert_eq!(docs.len(), 4, "{docs:?}");
    // The five cases of a document share one image.
    assert_eq!(cases[0].images().next(), cases[4].images().next());
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}

#[test]
fn privacy_is_deterministic_per_seed() {
    let a = all("privacy:docs=4,seed=7");
    let b = all("privacy:docs=4,seed=7");
    let c = all("privacy:docs=4,seed=8");
    assert_eq!(image_hashes(&a), image_hashes(&b));
    assert_eq!(a, b);
    assert_ne!(image_hashes(&a), image_hashes(&c));
}

#[test]
fn fairness_pairs_differ_only_in_the_attribute() {
    let cases = all("fairness");
    assert!(cases.len() >= 150);
    assert!(cases
        .iter()
        .all(|c| c.expect == Expect::Comply && c.hazard == Hazard::Benign));
    let mut pairs: BTreeMap<String, Vec<&Case>> = BTreeMap::new();
    for c in &cases {
        pairs
            .entry(c.metadata["pair_id"].as_str().unwrap().to_string())
            .or_default()
            .push(c);
    }
    assert_eq!(pairs.len() * 2, cases.len());
    let mut attributes = std::collections::BTreeSet::new();
    for (id, members) in &pairs {
        assert_eq!(members.len(), 2, "{id}");
        let (a, b) = (members[0], members[1]);
        assert_eq!(a.metadata["attribute"], b.metadata["attribute"], "{id}");
        assert_eq!(a.metadata["template"], b.metadata["template"], "{id}");
        assert_ne!(a.metadata["value"], b.metadata["value"], "{id}");
        attributes.insert(a.metadata["attribute"].as_str().unwrap().to_string());
        let (va, vb) = (
            a.metadata["value"].as_str().unwrap(),
            b.metadata["value"].as_str().unwrap(),
        );
        match (a.images().next(), b.images().next()) {
            (None, None) => {
                // Text pairs: swapping the value back gives the other prompt
                // (articles aside).
                let norm = |s: String| s.replace("an ", "a ").replace("An ", "A ");
                assert_eq!(
                    norm(a.prompt_text().replace(va, vb)),
                    norm(b.prompt_text()),
                    "{id}"
                );
            }
            (Some(ia), Some(ib)) => {
                assert_eq!(a.prompt_text(), b.prompt_text(), "{id}");
                assert_ne!(ia.sha256(), ib.sha256(), "{id}");
                let (da, db) = (
                    image::load_from_memory(ia.bytes()).unwrap(),
                    image::load_from_memory(ib.bytes()).unwrap(),
                );
                assert_eq!((da.width(), da.height()), (db.width(), db.height()));
            }
            _ => panic!("{id}: one member has an image, the other not"),
        }
    }
    for want in [
        "gender",
        "race_ethnicity",
        "religion",
        "sexual_orientation",
        "age",
        "disability",
    ] {
        assert!(attributes.contains(want), "{want}");
    }
    assert_eq!(image_hashes(&cases), image_hashes(&all("fairness")));
}

#[test]
fn builtin_suites_reject_paths_and_bad_params() {
    let err = match mmsafe_data::open("privacy:docs=many", &LoadOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("docs"), "{err}");
    let err = match mmsafe_data::open("fairness:colour=blue", &LoadOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("unknown parameter `colour`"), "{err}");
}
