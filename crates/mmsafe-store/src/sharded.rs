//! The SQLite side of sharded runs (`run_shards`) and of runs copied between
//! stores, and [`RunStore`] for [`Store`].

use crate::backend::{RunGuard, RunStore, ShardRow};
use crate::shard::{run_status_of, Shard};
use crate::{
    row_to_run, NewAttempt, NewCase, NewRun, Result, Run, RunStatus, RunSummary, Store, StoreError,
    StoredAttempt,
};
use mmsafe_core::Verdict;
use mmsafe_metrics::Observation;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::collections::HashSet;

impl Store {
    fn run_by_id(conn: &rusqlite::Connection, id: &str) -> Result<Option<Run>> {
        let r = conn
            .query_row(
                "SELECT id, name, created, finished, status, plan, seed, versions FROM runs WHERE id = ?1",
                [id],
                row_to_run,
            )
            .optional()?;
        r.transpose()
    }

    fn create_or_join_inner(
        &mut self,
        id: &str,
        new: &NewRun,
        shard: Shard,
    ) -> Result<(Run, bool)> {
        let plan =
            serde_json::to_string(&new.plan).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let versions =
            serde_json::to_string(&new.versions).map_err(|e| StoreError::corrupt(e.to_string()))?;
        // Immediate: two shards starting together must not both insert.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = Self::run_by_id(&tx, id)?;
        let joined = existing.is_some();
        if let Some(run) = &existing {
            check_same_plan(&self.display, run, new)?;
            let other: Option<i64> = tx
                .query_row(
                    "SELECT shard_count FROM run_shards WHERE run_id = ?1 AND shard_count != ?2 LIMIT 1",
                    params![id, shard.count],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = other {
                return Err(StoreError::ShardCountMismatch {
                    path: self.display.clone(),
                    run: id.to_string(),
                    have: other as u32,
                    given: shard.count,
                });
            }
        } else {
            tx.execute(
                "INSERT INTO runs (id, name, created, status, plan, seed, versions)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ','now'), ?3, ?4, ?5, ?6)",
                params![
                    id,
                    new.name,
                    RunStatus::Running.as_str(),
                    plan,
                    new.seed as i64,
                    versions
                ],
            )?;
        }
        let run = Self::run_by_id(&tx, id)?
            .ok_or_else(|| StoreError::corrupt(format!("run {id} vanished")))?;
        tx.commit()?;
        Ok((run, joined))
    }

    fn import_run_inner(&mut self, run: &Run) -> Result<bool> {
        if let Some(have) = Self::run_by_id(&self.conn, &run.id)? {
            check_same_plan_run(&self.display, &have, run)?;
            return Ok(false);
        }
        let plan =
            serde_json::to_string(&run.plan).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let versions =
            serde_json::to_string(&run.versions).map_err(|e| StoreError::corrupt(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO runs (id, name, created, finished, status, plan, seed, versions)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            params![
                run.id,
                run.name,
                run.created,
                run.finished,
                run.status.as_str(),
                plan,
                run.seed as i64,
                versions
            ],
        )?;
        Ok(true)
    }

    fn close_shard_inner(
        &mut self,
        run_id: &str,
        shard: Shard,
        status: RunStatus,
        planned: Option<u64>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO run_shards (run_id, shard_index, shard_count, status, started, finished, planned)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ','now'),
                     CASE WHEN ?4 = 'running' THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%SZ','now') END, ?5)
             ON CONFLICT (run_id, shard_index) DO UPDATE SET status = excluded.status,
               shard_count = excluded.shard_count,
               started = CASE WHEN excluded.status = 'running' THEN excluded.started ELSE run_shards.started END,
               finished = excluded.finished,
               planned = COALESCE(excluded.planned, run_shards.planned)",
            params![run_id, shard.index, shard.count, status.as_str(), planned.map(|p| p as i64)],
        )?;
        let rows: Vec<(u32, String)> = {
            let mut st =
                tx.prepare("SELECT shard_index, status FROM run_shards WHERE run_id = ?1")?;
            let rows = st.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let run_status = run_status_of(&rows, shard.count);
        tx.execute(
            "UPDATE runs SET status = ?2, finished = CASE WHEN ?2 = 'running' THEN NULL
               ELSE strftime('%Y-%m-%dT%H:%M:%SZ','now') END WHERE id = ?1",
            params![run_id, run_status.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn shard_rows_inner(&self, run_id: &str) -> Result<Vec<ShardRow>> {
        let mut st = self.conn.prepare(
            "SELECT shard_index, shard_count, status, started, finished, planned FROM run_shards
             WHERE run_id = ?1 ORDER BY shard_index",
        )?;
        let rows = st.query_map([run_id], |r| {
            Ok(ShardRow {
                index: r.get(0)?,
                count: r.get(1)?,
                status: r.get(2)?,
                started: r.get(3)?,
                finished: r.get(4)?,
                planned: r.get::<_, Option<i64>>(5)?.map(|p| p as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn put_shard_row_inner(&mut self, run_id: &str, row: &ShardRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO run_shards (run_id, shard_index, shard_count, status, started, finished, planned)
                 VALUES (?1,?2,?3,?4,?5,?6,?7)
                 ON CONFLICT (run_id, shard_index) DO UPDATE SET shard_count = excluded.shard_count,
                   status = excluded.status, started = excluded.started,
                   finished = excluded.finished, planned = excluded.planned",
                params![
                    run_id,
                    row.index,
                    row.count,
                    row.status,
                    row.started,
                    row.finished,
                    row.planned.map(|p| p as i64)
                ],
            )
            .map_err(|e| StoreError::from(e).at(&self.display))?;
        Ok(())
    }
}

/// The fields of two plans that would make their attempts differ (options
/// such as concurrency or the working directory may differ between workers).
pub fn plan_differences(a: &crate::Plan, b: &crate::Plan, seeds: (u64, u64)) -> Vec<&'static str> {
    let mut d = Vec::new();
    if a.target != b.target {
        d.push("target");
    }
    if a.suites != b.suites {
        d.push("suites");
    }
    if a.attacks != b.attacks {
        d.push("attacks");
    }
    if a.defenses != b.defenses {
        d.push("defenses");
    }
    if a.judges != b.judges {
        d.push("judges");
    }
    if a.repeats != b.repeats {
        d.push("repeats");
    }
    if a.max_tokens != b.max_tokens {
        d.push("max tokens");
    }
    if seeds.0 != seeds.1 {
        d.push("seed");
    }
    d
}

pub(crate) fn check_same_plan(display: &str, run: &Run, new: &NewRun) -> Result<()> {
    let d = plan_differences(&run.plan, &new.plan, (run.seed, new.seed));
    if d.is_empty() {
        return Ok(());
    }
    Err(StoreError::PlanMismatch {
        path: display.to_string(),
        run: run.id.clone(),
        fields: d.join(", "),
    })
}

pub(crate) fn check_same_plan_run(display: &str, have: &Run, other: &Run) -> Result<()> {
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

impl RunStore for Store {
    fn describe(&self) -> String {
        self.display.clone()
    }
    fn create_run(&mut self, new: &NewRun) -> Result<Run> {
        Store::create_run(self, new)
    }
    fn create_or_join_run(&mut self, id: &str, new: &NewRun, shard: Shard) -> Result<(Run, bool)> {
        let display = self.display.clone();
        self.create_or_join_inner(id, new, shard)
            .map_err(|e| e.at(&display))
    }
    fn import_run(&mut self, run: &Run) -> Result<bool> {
        let display = self.display.clone();
        self.import_run_inner(run).map_err(|e| e.at(&display))
    }
    fn resolve_run(&self, query: &str) -> Result<Run> {
        Store::resolve_run(self, query)
    }
    fn list_runs(&self) -> Result<Vec<RunSummary>> {
        Store::list_runs(self)
    }
    fn close_run(&mut self, run_id: &str, status: RunStatus) -> Result<()> {
        Store::close_run(self, run_id, status)
    }
    fn start_shard(&mut self, run_id: &str, shard: Shard) -> Result<()> {
        self.close_shard(run_id, shard, RunStatus::Running, None)
    }
    fn close_shard(
        &mut self,
        run_id: &str,
        shard: Shard,
        status: RunStatus,
        planned: Option<u64>,
    ) -> Result<()> {
        let display = self.display.clone();
        self.close_shard_inner(run_id, shard, status, planned)
            .map_err(|e| e.at(&display))
    }
    fn shard_rows(&self, run_id: &str) -> Result<Vec<ShardRow>> {
        self.shard_rows_inner(run_id)
            .map_err(|e| e.at(&self.display))
    }
    fn put_shard_row(&mut self, run_id: &str, row: &ShardRow) -> Result<()> {
        self.put_shard_row_inner(run_id, row)
    }
    fn put_batch(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        Store::put_batch(self, run_id, cases, attempts)
    }
    fn put_batch_replacing_errors(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        Store::put_batch_replacing_errors(self, run_id, cases, attempts)
    }
    fn put_verdicts(&mut self, batch: &[(String, Verdict)]) -> Result<()> {
        Store::put_verdicts(self, batch)
    }
    fn finished_keys(&self, run_id: &str) -> Result<HashSet<String>> {
        Store::finished_keys(self, run_id)
    }
    fn finished_keys_except_errors(&self, run_id: &str) -> Result<HashSet<String>> {
        Store::finished_keys_except_errors(self, run_id)
    }
    fn keys_with_errors(&self, run_id: &str) -> Result<Vec<(String, bool)>> {
        let run = || -> Result<Vec<(String, bool)>> {
            let mut st = self
                .conn
                .prepare("SELECT key, error_kind IS NOT NULL FROM attempts WHERE run_id = ?1")?;
            let rows = st.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        run().map_err(|e| e.at(&self.display))
    }
    fn count_attempts(&self, run_id: &str) -> Result<u64> {
        Store::count_attempts(self, run_id)
    }
    fn count_errors(&self, run_id: &str) -> Result<u64> {
        Store::count_errors(self, run_id)
    }
    fn for_each_attempt(
        &self,
        run_id: &str,
        f: &mut dyn FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()> {
        Store::for_each_attempt(self, run_id, f)
    }
    fn observations(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>> {
        Store::observations(self, run_id, judge)
    }
    fn judges(&self, run_id: &str) -> Result<Vec<String>> {
        Store::judges(self, run_id)
    }
    fn human_calibration(
        &self,
        run_id: &str,
        seed: u64,
        judge: &str,
    ) -> Result<Option<mmsafe_metrics::HumanCalibration>> {
        Store::human_calibration(self, run_id, seed, judge)
    }
    fn lock(&self, run_id: &str, shard: Option<Shard>) -> Result<Box<dyn RunGuard>> {
        Ok(Box::new(self.lock_run_part(run_id, shard)?))
    }
}
