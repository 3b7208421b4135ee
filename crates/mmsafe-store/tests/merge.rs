//! `mmsafe_store::merge`: shard stores fold into one run; a plan mismatch is
//! refused before anything is written; merging twice changes nothing.

use mmsafe_core::{Case, Expect, Hazard, Label, Response, Verdict};
use mmsafe_store::merge::{copy_run, merge};
use mmsafe_store::shard::{sharded_run_id, Shard};
use mmsafe_store::{
    attempt_key, NewAttempt, NewCase, NewRun, Plan, RequestSummary, RunStatus, RunStore, Store,
};
use std::collections::BTreeMap;
use std::sync::Arc;

fn new_run(repeats: u32) -> NewRun {
    NewRun {
        name: Some("m".into()),
        plan: Plan {
            target: "t".into(),
            suites: vec!["s".into()],
            attacks: vec!["none".into()],
            defenses: vec!["none".into()],
            judges: vec!["refusal".into()],
            repeats,
            max_tokens: Some(8),
            options: Default::default(),
        },
        seed: 1,
        versions: BTreeMap::new(),
    }
}

/// Shard `shard` of the 12-attempt run, written into its own store.
fn shard_store(dir: &std::path::Path, shard: Shard) -> Store {
    let mut s = Store::open(dir.join(format!("part{}.db", shard.index))).unwrap();
    let id = sharded_run_id("m");
    let (run, _) = s.create_or_join_run(&id, &new_run(1), shard).unwrap();
    s.start_shard(&run.id, shard).unwrap();
    let mut cases = Vec::new();
    let mut attempts = Vec::new();
    let mut n = 0;
    for i in 0..12 {
        let case = Arc::new(Case::text(
            format!("c{i}"),
            "q",
            Hazard::Benign,
            Expect::Comply,
            "s",
        ));
        let key = attempt_key(&run.id, &case.id, "none", "none", 0);
        if !shard.contains(&key) {
            continue;
        }
        n += 1;
        cases.push(NewCase {
            attack: "none".into(),
            case: case.clone(),
        });
        attempts.push(NewAttempt {
            key,
            case_id: case.id.clone(),
            attack: "none".into(),
            defense: "none".into(),
            repeat: 0,
            request: RequestSummary::default(),
            outcome: Ok(Response::text("sure")),
            verdicts: vec![Verdict::new("refusal", Label::Complied, "r")],
        });
    }
    s.put_batch(&run.id, &cases, &attempts).unwrap();
    s.close_shard(&run.id, shard, RunStatus::Completed, Some(n))
        .unwrap();
    s
}

#[test]
fn shards_merge_into_one_complete_run_and_mismatches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<Store> = (0..3)
        .map(|i| shard_store(dir.path(), Shard::new(i, 3).unwrap()))
        .collect();
    let id = sharded_run_id("m");
    // Each part alone is an incomplete run.
    assert_eq!(
        parts[0].resolve_run(&id).unwrap().status,
        RunStatus::Running
    );
    let mut out = Store::open(dir.path().join("out.db")).unwrap();
    let refs: Vec<&dyn RunStore> = parts.iter().map(|s| s as &dyn RunStore).collect();
    let copied = merge(&mut out, &refs).unwrap();
    assert_eq!((copied[0].read, copied[0].written), (12, 12));
    assert_eq!(out.count_attempts(&id).unwrap(), 12);
    assert_eq!(out.resolve_run(&id).unwrap().status, RunStatus::Completed);
    assert!(out
        .attempts(&id)
        .unwrap()
        .iter()
        .all(|a| a.verdicts.len() == 1));
    // Again: nothing new.
    let copied = merge(&mut out, &refs).unwrap();
    assert_eq!((copied[0].read, copied[0].written), (12, 0));

    // Another plan under the same run id: refused, the destination untouched.
    let mut other = Store::open(dir.path().join("other.db")).unwrap();
    other
        .create_or_join_run(&id, &new_run(2), Shard::ALL)
        .unwrap();
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let e = merge(&mut fresh, &[&parts[0], &other]).unwrap_err();
    assert!(e.to_string().contains("repeats differ"), "{e}");
    assert!(fresh.list_runs().unwrap().is_empty());
    let e = copy_run(&other, &mut out, &id).unwrap_err();
    assert!(e.to_string().contains("repeats differ"), "{e}");
    assert_eq!(out.count_attempts(&id).unwrap(), 12);
}
