//! Loads every real dataset file in `../shared/data` (when present) and checks
//! row counts against SOURCE.md. Prints counts only, never contents.

mod common;
use mmsafe_core::{Expect, Hazard};
use mmsafe_data::LoadOptions;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: {} is absent", d.display());
        None
    }
}

struct Tally {
    n: usize,
    by_expect: BTreeMap<Expect, usize>,
    by_hazard: BTreeMap<Hazard, usize>,
    images: usize,
}

fn tally(spec: &str) -> Tally {
    let mut src =
        mmsafe_data::open(spec, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut t = Tally {
        n: 0,
        by_expect: BTreeMap::new(),
        by_hazard: BTreeMap::new(),
        images: 0,
    };
    for r in src.cases() {
        let c = r.unwrap_or_else(|e| panic!("{e}"));
        t.n += 1;
        *t.by_expect.entry(c.expect).or_default() += 1;
        *t.by_hazard.entry(c.hazard).or_default() += 1;
        t.images += c.images().count();
    }
    t
}

#[test]
fn figstep_safebench() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "figstep:{}",
        d.join("figstep-safebench/safebench.csv").display()
    ));
    assert_eq!(t.n, 500);
    assert_eq!(t.by_expect[&Expect::Refuse], 500);
    assert_eq!(t.by_hazard[&Hazard::SpecializedAdvice], 150);
    assert_eq!(t.by_hazard[&Hazard::NonViolentCrimes], 150);
    let t = tally(&format!(
        "figstep:{}",
        d.join("figstep-safebench/SafeBench-Tiny.csv").display()
    ));
    assert_eq!(t.n, 50);
}

fn p(d: &std::path::Path, rel: &str) -> String {
    d.join(rel).display().to_string()
}

#[test]
fn mmsafetybench_questions() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!("mmsafetybench:{}", p(&d, "mm-safetybench")));
    assert_eq!(t.n, 1680);
    assert_eq!(t.by_hazard[&Hazard::Hate], 163);
    assert_eq!(t.by_hazard[&Hazard::Privacy], 139);
    assert_eq!(t.images, 0);
    let t = tally(&format!(
        "mmsafetybench:{}:tiny=true",
        p(&d, "mm-safetybench")
    ));
    assert_eq!(t.n, 168);
    let t = tally(&format!(
        "mmsafetybench:{}:scenarios=02+09",
        p(&d, "mm-safetybench/processed_questions")
    ));
    assert_eq!(t.n, 163 + 139);
}

#[test]
fn harmbench_behaviors() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "harmbench:{}",
        p(
            &d,
            "harmbench/behavior_datasets/harmbench_behaviors_text_all.csv"
        )
    ));
    assert_eq!(t.n, 400);
    assert_eq!(t.by_hazard[&Hazard::IntellectualProperty], 100);
    assert_eq!(t.by_hazard[&Hazard::IndiscriminateWeapons], 56);
    for (f, n) in [("val", 80), ("test", 320)] {
        let t = tally(&format!(
            "harmbench:{}",
            p(
                &d,
                &format!("harmbench/behavior_datasets/harmbench_behaviors_text_{f}.csv")
            )
        ));
        assert_eq!(t.n, n);
    }
    // Only 12 of the 110 images are shipped: the rest are skipped with a report.
    let opts = LoadOptions {
        skip_broken: true,
        ..Default::default()
    };
    let spec = format!(
        "harmbench:{}",
        p(
            &d,
            "harmbench/behavior_datasets/harmbench_behaviors_multimodal_all.csv"
        )
    );
    let mut src = mmsafe_data::open(&spec, &opts).unwrap();
    let cases: Vec<_> = src.cases().map(|r| r.unwrap()).collect();
    assert_eq!(cases.len(), 12);
    assert!(cases.iter().all(|c| c.images().count() == 1));
    assert_eq!(opts.skipped.len(), 98);
    let t = tally(&format!("{spec}:text_only=true"));
    assert_eq!(t.n, 110);
}

#[test]
fn jbb_behaviors() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "jbb:{}",
        p(&d, "jailbreakbench/harmful-behaviors.csv")
    ));
    assert_eq!((t.n, t.by_expect[&Expect::Refuse]), (100, 100));
    assert_eq!(t.by_hazard[&Hazard::Privacy], 10);
    let t = tally(&format!(
        "jbb:{}",
        p(&d, "jailbreakbench/benign-behaviors.csv")
    ));
    assert_eq!((t.n, t.by_expect[&Expect::Comply]), (100, 100));
}

#[test]
fn advbench() {
    let Some(d) = data_dir() else { return };
    assert_eq!(
        tally(&format!(
            "advbench:{}",
            p(&d, "advbench/harmful_behaviors.csv")
        ))
        .n,
        520
    );
    assert_eq!(
        tally(&format!(
            "advbench:{}",
            p(&d, "advbench/transfer_expriment_behaviors.csv")
        ))
        .n,
        388
    );
    let err = match mmsafe_data::open(
        &format!("advbench:{}", p(&d, "advbench/harmful_strings.csv")),
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("harmful_strings.csv must be rejected"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("harmful_strings.csv:1"), "{err}");
}

#[test]
fn xstest() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!("xstest:{}", p(&d, "xstest/xstest_prompts.csv")));
    assert_eq!(t.n, 450);
    assert_eq!(t.by_expect[&Expect::Comply], 250);
    assert_eq!(t.by_expect[&Expect::Refuse], 200);
    assert_eq!(t.by_hazard[&Hazard::Benign], 250);
}

#[test]
fn vlguard_text_only() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "vlguard:{}:text_only=true",
        p(&d, "vlguard/test.json")
    ));
    assert_eq!(t.n, 558 + 558 + 442);
    assert_eq!(t.by_expect[&Expect::Comply], 558);
    assert_eq!(t.by_hazard[&Hazard::SexualContent], 111);
    let t = tally(&format!(
        "vlguard:{}:text_only=true,subset=unsafes",
        p(&d, "vlguard/train.json")
    ));
    assert_eq!(t.n, 1023);
    let t = tally(&format!(
        "vlguard:{}:text_only=true",
        p(&d, "vlguard/gpt4_safe_safes.json")
    ));
    assert_eq!(t.n, 558);
    // Images are not shipped: without text_only every row names its missing image.
    let res: Vec<_> = mmsafe_data::open(
        &format!("vlguard:{}", p(&d, "vlguard/test.json")),
        &LoadOptions::default(),
    )
    .unwrap()
    .cases()
    .take(1)
    .collect();
    let err = res[0].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("test.json: item 0") && err.contains("image"),
        "{err}"
    );
}

#[test]
fn mossbench() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!("mossbench:{}:text_only=true", p(&d, "mossbench")));
    assert_eq!(t.n, 544);
    assert_eq!(t.by_expect[&Expect::Comply], 300);
    assert_eq!(t.by_expect[&Expect::Refuse], 244);
    let opts = LoadOptions {
        skip_broken: true,
        ..Default::default()
    };
    let mut src = mmsafe_data::open(
        &format!("mossbench:{}:set=benign", p(&d, "mossbench")),
        &opts,
    )
    .unwrap();
    let n = src
        .cases()
        .map(|r| r.unwrap())
        .filter(|c| c.images().count() == 1)
        .count();
    assert_eq!(n, 12);
    assert_eq!(opts.skipped.len(), 288);
}

#[test]
fn siuo() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "siuo:{}:text_only=true",
        p(&d, "siuo/siuo_gen.json")
    ));
    assert_eq!(t.n, 167);
    assert_eq!(t.by_hazard[&Hazard::Privacy], 21);
}

#[test]
fn mm_harmfulbench() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "mm-harmfulbench:{}:text_only=true",
        p(&d, "mm-harmfulbench/questions.jsonl")
    ));
    assert_eq!(t.n, 100);
    let opts = LoadOptions {
        skip_broken: true,
        ..Default::default()
    };
    let mut src = mmsafe_data::open(
        &format!(
            "mm-harmfulbench:{}",
            p(&d, "mm-harmfulbench/questions.jsonl")
        ),
        &opts,
    )
    .unwrap();
    let loaded: Vec<_> = src.cases().map(|r| r.unwrap()).collect();
    assert_eq!(loaded.len(), 15);
    assert!(loaded
        .iter()
        .all(|c| c.images().next().unwrap().media_type() == "image/jpeg"));
}

#[test]
fn simplesafetytests() {
    let Some(d) = data_dir() else { return };
    let t = tally(&format!(
        "simplesafetytests:{}",
        p(&d, "simplesafetytests/sst_test_cases.csv")
    ));
    assert_eq!(t.n, 100);
    assert_eq!(t.by_hazard[&Hazard::SuicideSelfHarm], 20);
    assert_eq!(t.by_hazard[&Hazard::NonViolentCrimes], 40);
}

#[test]
fn known_hashes_match_shipped_files() {
    let Some(d) = data_dir() else { return };
    for (loader, rel) in [
        ("figstep", "figstep-safebench/safebench.csv"),
        ("mmsafetybench", "mm-safetybench"),
        (
            "harmbench",
            "harmbench/behavior_datasets/harmbench_behaviors_text_all.csv",
        ),
        ("jbb", "jailbreakbench/benign-behaviors.csv"),
        ("advbench", "advbench/harmful_behaviors.csv"),
        ("xstest", "xstest/xstest_prompts.csv"),
        ("vlguard", "vlguard/test.json"),
        ("mossbench", "mossbench"),
        ("siuo", "siuo/siuo_gen.json"),
        ("mm-harmfulbench", "mm-harmfulbench/questions.jsonl"),
        ("simplesafetytests", "simplesafetytests/sst_test_cases.csv"),
    ] {
        let l = mmsafe_data::registry::find(loader).unwrap();
        let checks = mmsafe_data::manifest::check(l, &d.join(rel));
        assert!(!checks.is_empty(), "{loader}: no known file matched {rel}");
        for c in checks {
            assert!(
                c.matches(),
                "{loader}: {} sha256 mismatch",
                c.file.display()
            );
        }
    }
}
