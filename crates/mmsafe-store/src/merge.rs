//! Moving runs between stores: `mmsafe runs copy` (one run, any backend to
//! any backend) and `mmsafe runs merge` (SQLite shard stores folded into one).
//!
//! Copies go through [`RunStore::put_batch`], so they keep the store's
//! invariants: an attempt already in the destination is left as it is (one
//! attempt per key), and each attempt lands with its verdicts. Every plan is
//! checked before anything is written: a run id that stands for two plans is
//! refused with the destination untouched.

use crate::backend::RunStore;
use crate::shard::run_status_of;
use crate::sharded::plan_differences;
use crate::{NewAttempt, NewCase, Result, Run, StoreError};
use std::collections::{BTreeMap, HashSet};

/// Attempts written per transaction while copying.
const BATCH: usize = 256;

/// What one run's copy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub run: String,
    /// Attempts read from the source(s).
    pub read: u64,
    /// Attempts new to the destination (the rest were already there).
    pub written: u64,
}

/// Copy run `query` (id, name, prefix or `latest`) of `from` into `to`.
pub fn copy_run(from: &dyn RunStore, to: &mut dyn RunStore, query: &str) -> Result<Copied> {
    let run = from.resolve_run(query)?;
    if let Ok(have) = to.resolve_run(&run.id) {
        refuse_mismatch(&to.describe(), &have, &run)?;
    }
    copy_resolved(from, to, &run)
}

/// Fold every run of every input store into `to`. Runs that share an id
/// (the shards of one sharded run) must share their plan and shard count;
/// the first difference found refuses the merge before anything is written.
pub fn merge(to: &mut dyn RunStore, inputs: &[&dyn RunStore]) -> Result<Vec<Copied>> {
    let mut plans: BTreeMap<String, (Run, String, Option<u32>)> = BTreeMap::new();
    let mut want: Vec<(usize, Run)> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for s in input.list_runs()? {
            let count = input.shard_rows(&s.run.id)?.iter().map(|r| r.count).max();
            if let Some((first, from, first_count)) = plans.get(&s.run.id) {
                refuse_mismatch(from, first, &s.run)?;
                if let (Some(a), Some(b)) = (first_count, count) {
                    if *a != b {
                        return Err(StoreError::ShardCountMismatch {
                            path: input.describe(),
                            run: s.run.id.clone(),
                            have: *a,
                            given: b,
                        });
                    }
                }
            } else {
                if let Ok(have) = to.resolve_run(&s.run.id) {
                    refuse_mismatch(&to.describe(), &have, &s.run)?;
                }
                plans.insert(s.run.id.clone(), (s.run.clone(), input.describe(), count));
            }
            want.push((i, s.run));
        }
    }
    let mut out: BTreeMap<String, Copied> = BTreeMap::new();
    for (i, run) in want {
        let c = copy_resolved(inputs[i], to, &run)?;
        let e = out.entry(c.run.clone()).or_insert(Copied {
            run: c.run.clone(),
            read: 0,
            written: 0,
        });
        e.read += c.read;
        e.written += c.written;
    }
    Ok(out.into_values().collect())
}

fn refuse_mismatch(display: &str, have: &Run, other: &Run) -> Result<()> {
    let d = plan_differences(&have.plan, &other.plan, (have.seed, other.seed));
    if d.is_empty() {
        return Ok(());
    }
    Err(StoreError::PlanMismatch {
        path: display.to_string(),
        run: have.id.clone(),
        fields: d.join(", "),
    })
}

fn copy_resolved(from: &dyn RunStore, to: &mut dyn RunStore, run: &Run) -> Result<Copied> {
    to.import_run(run)?;
    let mut read = 0u64;
    let mut written = 0u64;
    let mut cases: Vec<NewCase> = Vec::new();
    let mut seen_cases: HashSet<(String, String)> = HashSet::new();
    let mut attempts: Vec<NewAttempt> = Vec::new();
    let mut flush = |to: &mut dyn RunStore,
                     cases: &mut Vec<NewCase>,
                     attempts: &mut Vec<NewAttempt>|
     -> Result<()> {
        written += to.put_batch(&run.id, cases, attempts)? as u64;
        cases.clear();
        attempts.clear();
        Ok(())
    };
    from.for_each_attempt(&run.id, &mut |a| {
        read += 1;
        // A case is written once, before the first attempt that refers to it.
        if seen_cases.insert((a.attack.clone(), a.case.id.clone())) {
            cases.push(NewCase {
                attack: a.attack.clone(),
                case: a.case.clone(),
            });
        }
        attempts.push(NewAttempt {
            key: a.key,
            case_id: a.case.id.clone(),
            attack: a.attack,
            defense: a.defense,
            repeat: a.repeat,
            request: a.request,
            outcome: a.outcome,
            verdicts: a.verdicts,
        });
        if attempts.len() >= BATCH {
            flush(to, &mut cases, &mut attempts)?;
        }
        Ok(())
    })?;
    flush(to, &mut cases, &mut attempts)?;
    let rows = from.shard_rows(&run.id)?;
    if let Some(count) = rows.iter().map(|r| r.count).max() {
        for r in &rows {
            to.put_shard_row(&run.id, r)?;
        }
        let all: Vec<(u32, String)> = to
            .shard_rows(&run.id)?
            .into_iter()
            .map(|r| (r.index, r.status))
            .collect();
        to.close_run(&run.id, run_status_of(&all, count))?;
    }
    Ok(Copied {
        run: run.id.clone(),
        read,
        written,
    })
}
