//! VLSBench's real `data.json` from `../shared/data/vlsbench` (metadata only:
//! the images are on Hugging Face). Skips when the folder is absent; prints
//! counts, never contents.

use mmsafe_core::{Expect, Hazard};
use mmsafe_data::LoadOptions;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn data_json() -> Option<PathBuf> {
    let f = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/vlsbench/data.json"
    ));
    if f.is_file() {
        Some(f)
    } else {
        eprintln!("skipping: {} is absent", f.display());
        None
    }
}

#[test]
fn vlsbench_text_only_counts_match_source_md() {
    let Some(f) = data_json() else { return };
    let spec = format!("vlsbench:{}:text_only=true", f.display());
    let mut src = mmsafe_data::open(&spec, &LoadOptions::default()).unwrap();
    assert_eq!(src.len_hint(), Some(2241));
    let mut by_hazard: BTreeMap<Hazard, usize> = BTreeMap::new();
    let mut n = 0;
    let mut errors = Vec::new();
    for r in src.cases() {
        match r {
            Ok(c) => {
                assert_eq!(c.expect, Expect::Refuse);
                assert_eq!(c.images().count(), 0);
                *by_hazard.entry(c.hazard).or_default() += 1;
                n += 1;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // Upstream's item 1685 (a Hate row) has an empty `instruction`: it is
    // reported with its item and field, the other 2,240 load.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("item 1685") && errors[0].contains("field `instruction`: is empty"),
        "{}",
        errors[0]
    );
    assert_eq!(n, 2240);
    // SOURCE.md: Violent 590, Illegal Activity 539, Self-Harm 370, Erotic 343,
    // Hate 269 (one of them empty), Privacy 130.
    assert_eq!(by_hazard[&Hazard::ViolentCrimes], 590);
    assert_eq!(by_hazard[&Hazard::NonViolentCrimes], 539);
    assert_eq!(by_hazard[&Hazard::SuicideSelfHarm], 370);
    assert_eq!(by_hazard[&Hazard::SexualContent], 343);
    assert_eq!(by_hazard[&Hazard::Hate], 268);
    assert_eq!(by_hazard[&Hazard::Privacy], 130);
    eprintln!("vlsbench: {n} cases");
}

#[test]
fn vlsbench_without_images_names_the_missing_file() {
    let Some(f) = data_json() else { return };
    // The shared copy has no imgs/: every row says which image it expected.
    let spec = format!("vlsbench:{}", f.display());
    let mut src = mmsafe_data::open(&spec, &LoadOptions::default()).unwrap();
    let first = src.cases().next().unwrap();
    let e = first.unwrap_err().to_string();
    assert!(e.contains("item 0") && e.contains("imgs/0.png"), "{e}");
}

#[test]
fn vlsbench_known_hash_matches_the_shared_copy() {
    let Some(f) = data_json() else { return };
    let l = mmsafe_data::registry::find("vlsbench").unwrap();
    let checks = mmsafe_data::manifest::check(l, &f);
    assert_eq!(checks.len(), 1);
    assert!(checks[0].matches(), "{:?}", checks[0].actual);
}
