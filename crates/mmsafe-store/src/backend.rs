//! [`RunStore`]: what the engine, `runs`, `report` and `judge --run` need
//! from a run store, so the same code runs on SQLite ([`crate::Store`]) and
//! PostgreSQL (`mmsafe-store-pg`). Both keep the same invariants: one attempt
//! per key, an attempt written with its verdicts or not at all, resume never
//! repeats an attempt recorded with a response.

use crate::shard::{Shard, ShardStatus};
use crate::{NewAttempt, NewCase, NewRun, Result, Run, RunStatus, RunSummary, StoredAttempt};
use mmsafe_core::Verdict;
use mmsafe_metrics::Observation;
use std::collections::HashSet;

/// Held while a process writes a run (or one shard of it); dropping it
/// releases the run. What it holds depends on the backend (a file lock, a
/// database session lock).
pub trait RunGuard: Send {}

impl RunGuard for crate::RunLock {}

/// A run store. `Send` so the engine's writer thread can own it.
pub trait RunStore: Send {
    /// Where the store is, for messages: a path, or a URL without credentials.
    fn describe(&self) -> String;

    fn create_run(&mut self, new: &NewRun) -> Result<Run>;
    /// Create the run `id` (a sharded run's id, [`crate::shard::sharded_run_id`])
    /// or join it when it exists with the same plan; another plan under that
    /// id, or shards counted differently, is refused with nothing written.
    /// Returns the run and whether it already existed.
    fn create_or_join_run(&mut self, id: &str, new: &NewRun, shard: Shard) -> Result<(Run, bool)>;
    /// Insert a run read from another store exactly as it is (same id,
    /// dates, status); an existing run with the same id must have the same
    /// plan ([`crate::StoreError::PlanMismatch`]), and is kept.
    fn import_run(&mut self, run: &Run) -> Result<bool>;
    fn resolve_run(&self, query: &str) -> Result<Run>;
    fn list_runs(&self) -> Result<Vec<RunSummary>>;
    fn close_run(&mut self, run_id: &str, status: RunStatus) -> Result<()>;

    /// Mark a shard as running (a fresh start or a resume).
    fn start_shard(&mut self, run_id: &str, shard: Shard) -> Result<()>;
    /// Record how a shard ended (with its planned attempts once it read its
    /// whole plan) and give the run the status its shards add up to.
    fn close_shard(
        &mut self,
        run_id: &str,
        shard: Shard,
        status: RunStatus,
        planned: Option<u64>,
    ) -> Result<()>;
    /// The shard rows recorded for a run: (index, count, status, started,
    /// finished, planned).
    fn shard_rows(&self, run_id: &str) -> Result<Vec<ShardRow>>;
    /// Write a shard row read from another store as it is (`runs merge`/`copy`).
    fn put_shard_row(&mut self, run_id: &str, row: &ShardRow) -> Result<()>;

    fn put_batch(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize>;
    fn put_batch_replacing_errors(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize>;
    fn put_verdicts(&mut self, batch: &[(String, Verdict)]) -> Result<()>;

    fn finished_keys(&self, run_id: &str) -> Result<HashSet<String>>;
    fn finished_keys_except_errors(&self, run_id: &str) -> Result<HashSet<String>>;
    /// Every recorded key of a run with whether it is a target error.
    fn keys_with_errors(&self, run_id: &str) -> Result<Vec<(String, bool)>>;
    fn count_attempts(&self, run_id: &str) -> Result<u64>;
    fn count_errors(&self, run_id: &str) -> Result<u64>;
    fn for_each_attempt(
        &self,
        run_id: &str,
        f: &mut dyn FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()>;
    fn observations(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>>;
    fn judges(&self, run_id: &str) -> Result<Vec<String>>;

    /// One writer per run, or per shard of a run: `shard: None` locks the
    /// whole run (a plain scan, `judge --run` without `--shard`).
    fn lock(&self, run_id: &str, shard: Option<Shard>) -> Result<Box<dyn RunGuard>>;

    /// What people's labels say about `judge` on this run (`mmsafe ui`,
    /// `mmsafe labels`). Labels are kept in SQLite stores only; another
    /// backend has none to report.
    fn human_calibration(
        &self,
        _run_id: &str,
        _seed: u64,
        _judge: &str,
    ) -> Result<Option<mmsafe_metrics::HumanCalibration>> {
        Ok(None)
    }

    /// Every attempt of a run in write order.
    fn attempts(&self, run_id: &str) -> Result<Vec<StoredAttempt>> {
        let mut out = Vec::new();
        self.for_each_attempt(run_id, &mut |a| {
            out.push(a);
            Ok(())
        })?;
        Ok(out)
    }

    /// Progress per shard: every shard of the run's count, started or not,
    /// with the attempts recorded for it.
    fn shard_statuses(&self, run_id: &str) -> Result<Vec<ShardStatus>> {
        let rows = self.shard_rows(run_id)?;
        let Some(count) = rows.iter().map(|r| r.count).max() else {
            return Ok(Vec::new());
        };
        let mut out: Vec<ShardStatus> = (0..count)
            .map(|i| {
                let row = rows.iter().find(|r| r.index == i);
                ShardStatus {
                    index: i,
                    count,
                    status: row.map_or("not started".to_string(), |r| r.status.clone()),
                    started: row.map(|r| r.started.clone()),
                    finished: row.and_then(|r| r.finished.clone()),
                    planned: row.and_then(|r| r.planned),
                    recorded: 0,
                    errors: 0,
                }
            })
            .collect();
        for (key, error) in self.keys_with_errors(run_id)? {
            let s = &mut out[crate::shard::shard_of(&key, count) as usize];
            s.recorded += 1;
            s.errors += u64::from(error);
        }
        Ok(out)
    }
}

/// One row of `run_shards`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRow {
    pub index: u32,
    pub count: u32,
    pub status: String,
    pub started: String,
    pub finished: Option<String>,
    pub planned: Option<u64>,
}

impl<S: RunStore + ?Sized> RunStore for Box<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn create_run(&mut self, new: &NewRun) -> Result<Run> {
        (**self).create_run(new)
    }
    fn create_or_join_run(&mut self, id: &str, new: &NewRun, shard: Shard) -> Result<(Run, bool)> {
        (**self).create_or_join_run(id, new, shard)
    }
    fn import_run(&mut self, run: &Run) -> Result<bool> {
        (**self).import_run(run)
    }
    fn resolve_run(&self, query: &str) -> Result<Run> {
        (**self).resolve_run(query)
    }
    fn list_runs(&self) -> Result<Vec<RunSummary>> {
        (**self).list_runs()
    }
    fn close_run(&mut self, run_id: &str, status: RunStatus) -> Result<()> {
        (**self).close_run(run_id, status)
    }
    fn start_shard(&mut self, run_id: &str, shard: Shard) -> Result<()> {
        (**self).start_shard(run_id, shard)
    }
    fn close_shard(
        &mut self,
        run_id: &str,
        shard: Shard,
        status: RunStatus,
        planned: Option<u64>,
    ) -> Result<()> {
        (**self).close_shard(run_id, shard, status, planned)
    }
    fn shard_rows(&self, run_id: &str) -> Result<Vec<ShardRow>> {
        (**self).shard_rows(run_id)
    }
    fn put_shard_row(&mut self, run_id: &str, row: &ShardRow) -> Result<()> {
        (**self).put_shard_row(run_id, row)
    }
    fn put_batch(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        (**self).put_batch(run_id, cases, attempts)
    }
    fn put_batch_replacing_errors(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        (**self).put_batch_replacing_errors(run_id, cases, attempts)
    }
    fn put_verdicts(&mut self, batch: &[(String, Verdict)]) -> Result<()> {
        (**self).put_verdicts(batch)
    }
    fn finished_keys(&self, run_id: &str) -> Result<HashSet<String>> {
        (**self).finished_keys(run_id)
    }
    fn finished_keys_except_errors(&self, run_id: &str) -> Result<HashSet<String>> {
        (**self).finished_keys_except_errors(run_id)
    }
    fn keys_with_errors(&self, run_id: &str) -> Result<Vec<(String, bool)>> {
        (**self).keys_with_errors(run_id)
    }
    fn count_attempts(&self, run_id: &str) -> Result<u64> {
        (**self).count_attempts(run_id)
    }
    fn count_errors(&self, run_id: &str) -> Result<u64> {
        (**self).count_errors(run_id)
    }
    fn for_each_attempt(
        &self,
        run_id: &str,
        f: &mut dyn FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()> {
        (**self).for_each_attempt(run_id, f)
    }
    fn observations(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>> {
        (**self).observations(run_id, judge)
    }
    fn judges(&self, run_id: &str) -> Result<Vec<String>> {
        (**self).judges(run_id)
    }
    fn lock(&self, run_id: &str, shard: Option<Shard>) -> Result<Box<dyn RunGuard>> {
        (**self).lock(run_id, shard)
    }
    fn human_calibration(
        &self,
        run_id: &str,
        seed: u64,
        judge: &str,
    ) -> Result<Option<mmsafe_metrics::HumanCalibration>> {
        (**self).human_calibration(run_id, seed, judge)
    }
}

/// Is this store location a PostgreSQL URL (`postgres://`, `postgresql://`)?
pub fn is_postgres_url(s: &str) -> bool {
    let l = s.trim_start().to_ascii_lowercase();
    l.starts_with("postgres://") || l.starts_with("postgresql://")
}

/// A store URL as it may be shown: the user and password (`user:pass@`) and
/// any `password=` query parameter replaced by `***`. Everything that names a
/// store in messages, logs or the store itself goes through this.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; user info ends at its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.lab:5432/runs?sslmode=require"),
            "postgres://***@db.lab:5432/runs?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://h/db?user=a&password=s3cret"),
            "postgresql://h/db?user=a&password=***"
        );
        assert_eq!(redact_url("postgres://p%40ss@h/db"), "postgres://***@h/db");
        assert_eq!(redact_url("postgres://a:b@c@h/db"), "postgres://***@h/db");
        assert!(is_postgres_url("PostgreSQL://h/db") && !is_postgres_url("runs.db"));
    }
}
