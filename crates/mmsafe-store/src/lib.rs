//! SQLite run store: runs, cases, attempts, verdicts, content-addressed images; resume.
//!
//! One file holds every run. Images are stored once by sha256 and cases refer
//! to them by hash. Attempts are keyed by [`attempt_key`] (run, case, attack,
//! defense, repeat), so writing the same attempt twice is a no-op and a resumed
//! run can skip exactly the attempts already recorded. A resume with
//! `--retry-errors` instead re-sends the attempts recorded as target errors and
//! writes their new outcome over the error row ([`Store::put_batch_replacing_errors`]):
//! a run never holds two attempts with one key.
//!
//! Durability: WAL with `synchronous = NORMAL`. A committed transaction
//! survives the process being killed (SIGKILL); only an OS crash or power loss
//! can drop the last few commits. Callers batch many attempts per transaction,
//! so there is no per-attempt fsync.

mod analysis;
pub mod backend;
mod browse;
pub mod cases;
mod label_files;
mod labels;
pub mod merge;
pub mod model;
mod options;
mod run_lock;
mod schema;
pub mod shard;
mod sharded;
#[cfg(test)]
mod tests;

pub use analysis::AnalyzeRequest;
pub use backend::{is_postgres_url, redact_url, RunGuard, RunStore, ShardRow};
pub use browse::{
    AttemptDetail, AttemptFilter, AttemptPage, AttemptRow, Facets, JudgePair, MessageView,
    PartView, ReplyView, RunIndex, TextMatches,
};
pub use label_files::{ExportStats, LabelFileFormat};
pub use labels::{
    valid_annotator, AnnotatorAgreement, HumanLabel, NewLabel, PairAgreement, QueueOrder,
    StoredLabel,
};
pub use model::{
    attempt_key, base_case_id, AttemptError, NewAttempt, NewCase, NewRun, Plan, RequestSummary,
    Run, RunStatus, RunSummary, StoredAttempt,
};
pub use options::RunOptions;
pub use run_lock::RunLock;
pub use schema::SCHEMA_VERSION;
pub use shard::{Shard, ShardError, ShardStatus};
pub use sharded::plan_differences;

use mmsafe_core::{Case, Expect, FinishReason, Hazard, Label, Response, Usage, Verdict};
use mmsafe_metrics::Observation;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store {path}: schema version {found} is newer than this mmsafe supports ({supported}); upgrade mmsafe")]
    TooNew {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("store {path}: no run `{query}` (see `mmsafe runs list`)")]
    RunNotFound { path: String, query: String },
    #[error("store {path}: run `{query}` is ambiguous: matches {candidates}")]
    Ambiguous {
        path: String,
        query: String,
        candidates: String,
    },
    #[error("store {path}: run `{run}` has no attempt `{query}` (attempt ids are the hex keys `mmsafe ui` shows)")]
    AttemptNotFound {
        path: String,
        run: String,
        query: String,
    },
    #[error("{path}:{line}: {message}")]
    LabelFile {
        path: String,
        line: u64,
        message: String,
    },
    #[error("store {path}: {what}")]
    Corrupt { path: String, what: String },
    #[error("store {path}: run `{run}` has no verdicts from judge `{judge}` (judges: {known})")]
    UnknownJudge {
        path: String,
        run: String,
        judge: String,
        known: String,
    },
    #[error("store {path}: run `{run}` is being written by another mmsafe process (it holds {lock}); wait for it to end or stop it, then resume")]
    RunBusy {
        path: String,
        run: String,
        lock: String,
    },
    #[error("store {path}: run `{run}` holds another plan ({fields} differ); shards of one run must share the plan: start a new run name, or pass the same flags")]
    PlanMismatch {
        path: String,
        run: String,
        fields: String,
    },
    #[error(
        "store {path}: run `{run}` is split into {have} shards, not {given}; pass --shard I/{have}"
    )]
    ShardCountMismatch {
        path: String,
        run: String,
        have: u32,
        given: u32,
    },
    /// A non-SQLite backend's failure, already worded without credentials.
    #[error("store {path}: {message}")]
    Backend { path: String, message: String },
    #[error("store {path}: cannot lock run `{run}` ({lock}): {source}")]
    Lock {
        path: String,
        run: String,
        lock: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn at(self, p: &str) -> StoreError {
        match self {
            StoreError::Sqlite { path, source } if path.is_empty() => StoreError::Sqlite {
                path: p.to_string(),
                source,
            },
            StoreError::Corrupt { path, what } if path.is_empty() => StoreError::Corrupt {
                path: p.to_string(),
                what,
            },

            other => other,
        }
    }
    pub fn corrupt(what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: String::new(),
            what: what.into(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            path: String::new(),
            source,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store. Not `Sync`: give it to one writer thread; readers open their own.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    display: String,
    /// Images already known to be in the file, to skip re-inserting them.
    known_images: HashSet<String>,
}

/// The `tracing` target of the event every open of a run store emits (SQLite
/// here, PostgreSQL in `mmsafe-store-pg`), with the store in field `store`
/// (a PostgreSQL URL without its credentials).
pub const OPEN_EVENT: &str = "mmsafe_store::open";

/// How long a writer queues for a store another process is writing.
const BUSY_WAIT: Duration = Duration::from_secs(60);

impl Store {
    /// Open (creating if needed) and migrate the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let mut conn = Connection::open(&path).map_err(|e| StoreError::from(e).at(&display))?;
        Self::configure(&mut conn, &display).map_err(|e| e.at(&display))?;
        // One event per open, under a target of its own: a command should
        // open its store once, and a test counts these events to hold it to
        // that (mmsafe-cli's `tests/scan_once.rs`).
        tracing::debug!(target: OPEN_EVENT, store = %path.display(), "run store opened");
        Ok(Store {
            conn,
            path,
            display,
            known_images: HashSet::new(),
        })
    }

    fn configure(conn: &mut Connection, display: &str) -> Result<()> {
        // Several scans may share one store (CI jobs, parallel runs): writers
        // queue on the lock for up to this long.
        conn.busy_timeout(BUSY_WAIT)?;
        // journal_mode returns a row, so it cannot go through execute_batch.
        // Switching a new file to WAL takes an exclusive lock that SQLite does
        // not queue for (the busy handler is skipped), so scans opening one
        // new store together would fail with "database is locked": wait here.
        let started = std::time::Instant::now();
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < BUSY_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        schema::migrate(conn, display)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    // ---- runs ----

    pub fn create_run(&mut self, new: &NewRun) -> Result<Run> {
        self.create_run_inner(new).map_err(|e| e.at(&self.display))
    }

    fn create_run_inner(&mut self, new: &NewRun) -> Result<Run> {
        let (created, stamp): (String, String) = self.conn.query_row(
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ','now'), strftime('%Y%m%d-%H%M%S','now')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let plan =
            serde_json::to_string(&new.plan).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let versions =
            serde_json::to_string(&new.versions).map_err(|e| StoreError::corrupt(e.to_string()))?;
        // Ids must differ between runs created at the same instant: threads of one
        // process can read the same clock value (a coarse clock on CI VMs), so a
        // per-process counter goes into the salt, and a collision with another
        // process is retried with a fresh salt rather than failing the scan.
        let mut tries = 0;
        let id = loop {
            let id = format!("{stamp}-{:06x}", run_id_salt(new) & 0xff_ffff);
            match self.conn.execute(
                "INSERT INTO runs (id, name, created, status, plan, seed, versions) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![id, new.name, created, RunStatus::Running.as_str(), plan, new.seed as i64, versions],
            ) {
                Ok(_) => break id,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation && tries < 16 =>
                {
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Run {
            id,
            name: new.name.clone(),
            created,
            finished: None,
            status: RunStatus::Running,
            plan: new.plan.clone(),
            seed: new.seed,
            versions: new.versions.clone(),
        })
    }

    /// Find a run by exact id, by name (the newest run with that name), by
    /// unique id prefix, or `latest`.
    pub fn resolve_run(&self, query: &str) -> Result<Run> {
        self.resolve_run_inner(query)
            .map_err(|e| e.at(&self.display))
    }

    fn resolve_run_inner(&self, query: &str) -> Result<Run> {
        let not_found = || StoreError::RunNotFound {
            path: self.display.clone(),
            query: query.to_string(),
        };
        let by = |sql: &str, arg: &str| -> Result<Vec<Run>> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([arg], row_to_run)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        };
        const COLS: &str =
            "SELECT id, name, created, finished, status, plan, seed, versions FROM runs";
        if query == "latest" {
            return by(
                &format!("{COLS} WHERE ?1 = ?1 ORDER BY created DESC, rowid DESC LIMIT 1"),
                "",
            )?
            .pop()
            .ok_or_else(not_found);
        }
        if let Some(r) = by(&format!("{COLS} WHERE id = ?1"), query)?.pop() {
            return Ok(r);
        }
        if let Some(r) = by(
            &format!("{COLS} WHERE name = ?1 ORDER BY created DESC, rowid DESC LIMIT 1"),
            query,
        )?
        .pop()
        {
            return Ok(r);
        }
        let escaped = query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let mut hits = by(
            &format!("{COLS} WHERE id LIKE ?1 || '%' ESCAPE '\\' LIMIT 5"),
            &escaped,
        )?;
        match hits.len() {
            0 => Err(not_found()),
            1 => Ok(hits.remove(0)),
            _ => Err(StoreError::Ambiguous {
                path: self.display.clone(),
                query: query.to_string(),
                candidates: hits
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// All runs, newest first, with attempt and error counts.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>> {
        self.list_runs_inner().map_err(|e| e.at(&self.display))
    }

    fn list_runs_inner(&self) -> Result<Vec<RunSummary>> {
        let mut st = self.conn.prepare(
            "SELECT r.id, r.name, r.created, r.finished, r.status, r.plan, r.seed, r.versions,
                    (SELECT count(*) FROM attempts a WHERE a.run_id = r.id),
                    (SELECT count(*) FROM attempts a WHERE a.run_id = r.id AND a.error_kind IS NOT NULL)
             FROM runs r ORDER BY r.created DESC, r.rowid DESC",
        )?;
        let rows = st.query_map([], |row| {
            let run = row_to_run(row)?;
            let attempts: i64 = row.get(8)?;
            let errors: i64 = row.get(9)?;
            Ok(run.map(|run| RunSummary {
                run,
                attempts: attempts as u64,
                errors: errors as u64,
            }))
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    pub fn close_run(&mut self, run_id: &str, status: RunStatus) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, finished = CASE WHEN ?2 = 'running' THEN NULL
                   ELSE strftime('%Y-%m-%dT%H:%M:%SZ','now') END WHERE id = ?1",
                params![run_id, status.as_str()],
            )
            .map_err(|e| StoreError::from(e).at(&self.display))?;
        Ok(())
    }

    // ---- cases ----

    /// Record a case as sent under attack spec `attack`; its images go to the
    /// image table once. Keyed by (run, attack, case id): two attacks may derive
    /// the same case id with different content.
    pub fn put_case(&mut self, run_id: &str, attack: &str, case: &Case) -> Result<()> {
        self.put_batch(
            run_id,
            &[NewCase {
                attack: attack.to_string(),
                case: Arc::new(case.clone()),
            }],
            &[],
        )
        .map(|_| ())
    }

    pub fn load_case(&self, run_id: &str, attack: &str, case_id: &str) -> Result<Option<Case>> {
        self.load_case_inner(run_id, attack, case_id)
            .map_err(|e| e.at(&self.display))
    }

    fn load_case_inner(&self, run_id: &str, attack: &str, case_id: &str) -> Result<Option<Case>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM cases WHERE run_id = ?1 AND attack = ?2 AND case_id = ?3",
                params![run_id, attack, case_id],
                |r| r.get(0),
            )
            .optional()?;
        match body {
            None => Ok(None),
            Some(b) => cases::decode(&self.conn, &b).map(Some),
        }
    }

    // ---- attempts and verdicts ----

    /// Write cases and attempts (with their verdicts) in one transaction.
    /// Attempts whose key is already present are left untouched (idempotent).
    /// Returns how many attempts were new.
    pub fn put_batch(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        let display = self.display.clone();
        self.put_batch_inner(run_id, cases, attempts, false)
            .map_err(|e| e.at(&display))
    }

    /// Like [`Store::put_batch`], except that an attempt whose key is already
    /// recorded *as a target error* is replaced: the error row and all its
    /// verdicts (including any a later `mmsafe judge` added) are dropped and
    /// the new outcome takes the row's place in write order, all in the same
    /// transaction. Attempts recorded with a response are never replaced.
    /// This is the writer of `scan --resume RUN --retry-errors`. Returns how
    /// many attempts were written (new or replacing an error).
    pub fn put_batch_replacing_errors(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        let display = self.display.clone();
        self.put_batch_inner(run_id, cases, attempts, true)
            .map_err(|e| e.at(&display))
    }

    fn put_batch_inner(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
        replace_errors: bool,
    ) -> Result<usize> {
        // Immediate: take the write lock up front, so a second writer waits on
        // the busy timeout instead of failing a read→write upgrade at once.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for c in cases {
            cases::put(&tx, &mut self.known_images, run_id, &c.attack, &c.case)?;
        }
        let mut new = 0;
        {
            // `rowid` is NULL (a fresh one) unless the attempt replaces an
            // error row, whose place in write order it then keeps.
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO attempts (key, run_id, case_id, attack, defense, repeat, request,
                   response_text, finish_reason, model, latency_ms, prompt_tokens, completion_tokens,
                   error_kind, error_message, retries, cached, guard_events, guard_ms,
                   guard_extra_calls, guard_extra_tokens, rowid)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)",
            )?;
            let mut ver = tx.prepare_cached(
                "INSERT OR IGNORE INTO verdicts (attempt_key, judge, label, score, hazard, rationale)
                 VALUES (?1,?2,?3,?4,?5,?6)",
            )?;
            for a in attempts {
                let request = serde_json::to_string(&a.request)
                    .map_err(|e| StoreError::corrupt(e.to_string()))?;
                let rowid = if replace_errors {
                    drop_error_attempt(&tx, run_id, &a.key)?
                } else {
                    None
                };
                let n = match &a.outcome {
                    Ok(r) => {
                        let (gms, gcalls, gtok) = guard_totals(r);
                        let events = if r.events.is_empty() {
                            None
                        } else {
                            Some(
                                serde_json::to_string(&r.events)
                                    .map_err(|e| StoreError::corrupt(e.to_string()))?,
                            )
                        };
                        ins.execute(params![
                            a.key,
                            run_id,
                            a.case_id,
                            a.attack,
                            a.defense,
                            a.repeat,
                            request,
                            r.text,
                            r.finish_reason.as_str(),
                            r.model,
                            r.latency_ms,
                            r.usage.prompt_tokens as i64,
                            r.usage.completion_tokens as i64,
                            None::<String>,
                            None::<String>,
                            r.retries,
                            r.cached,
                            events,
                            gms,
                            gcalls,
                            gtok as i64,
                            rowid,
                        ])?
                    }
                    Err(e) => ins.execute(params![
                        a.key,
                        run_id,
                        a.case_id,
                        a.attack,
                        a.defense,
                        a.repeat,
                        request,
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        e.latency_ms,
                        0i64,
                        0i64,
                        e.kind,
                        e.message,
                        e.retries,
                        false,
                        None::<String>,
                        0.0f64,
                        0u32,
                        0i64,
                        rowid,
                    ])?,
                };
                if n == 0 {
                    continue;
                }
                new += 1;
                for v in &a.verdicts {
                    insert_verdict(&mut ver, &a.key, v)?;
                }
            }
        }
        tx.commit()?;
        Ok(new)
    }

    pub fn put_attempts(&mut self, run_id: &str, batch: &[NewAttempt]) -> Result<usize> {
        self.put_batch(run_id, &[], batch)
    }

    /// Add or replace verdicts (one per attempt and judge), e.g. when re-judging.
    pub fn put_verdicts(&mut self, batch: &[(String, Verdict)]) -> Result<()> {
        let display = self.display.clone();
        let mut run = || -> Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO verdicts (attempt_key, judge, label, score, hazard, rationale)
                     VALUES (?1,?2,?3,?4,?5,?6)
                     ON CONFLICT (attempt_key, judge) DO UPDATE SET label = excluded.label,
                       score = excluded.score, hazard = excluded.hazard, rationale = excluded.rationale",
                )?;
                for (key, v) in batch {
                    insert_verdict(&mut st, key, v)?;
                }
            }
            tx.commit()?;
            Ok(())
        };
        run().map_err(|e| e.at(&display))
    }

    /// Keys of the attempts already recorded for a run (resume skips them).
    pub fn finished_keys(&self, run_id: &str) -> Result<HashSet<String>> {
        self.keys_where(run_id, "SELECT key FROM attempts WHERE run_id = ?1")
    }

    /// Keys of the attempts recorded with a response, i.e. every recorded
    /// attempt except target errors: what `--resume --retry-errors` skips.
    pub fn finished_keys_except_errors(&self, run_id: &str) -> Result<HashSet<String>> {
        self.keys_where(
            run_id,
            "SELECT key FROM attempts WHERE run_id = ?1 AND error_kind IS NULL",
        )
    }

    /// Attempts of a run recorded as target errors.
    pub fn count_errors(&self, run_id: &str) -> Result<u64> {
        self.count_where(
            run_id,
            "SELECT count(*) FROM attempts WHERE run_id = ?1 AND error_kind IS NOT NULL",
        )
    }

    fn count_where(&self, run_id: &str, sql: &str) -> Result<u64> {
        self.conn
            .query_row(sql, [run_id], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| StoreError::from(e).at(&self.display))
    }

    fn keys_where(&self, run_id: &str, sql: &str) -> Result<HashSet<String>> {
        let run = || -> Result<HashSet<String>> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([run_id], |r| r.get::<_, String>(0))?;
            let mut out = HashSet::new();
            for k in rows {
                out.insert(k?);
            }
            Ok(out)
        };
        run().map_err(|e| e.at(&self.display))
    }

    pub fn count_attempts(&self, run_id: &str) -> Result<u64> {
        self.count_where(run_id, "SELECT count(*) FROM attempts WHERE run_id = ?1")
    }

    /// Every attempt of a run in write order, with its case (images resolved),
    /// outcome and verdicts. Cases are decoded once and shared.
    pub fn attempts(&self, run_id: &str) -> Result<Vec<StoredAttempt>> {
        let mut out = Vec::new();
        self.for_each_attempt(run_id, |a| {
            out.push(a);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Store::attempts`] but streaming, for runs too big to hold at once.
    pub fn for_each_attempt(
        &self,
        run_id: &str,
        mut f: impl FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()> {
        self.for_each_attempt_inner(run_id, &mut f)
            .map_err(|e| e.at(&self.display))
    }

    fn for_each_attempt_inner(
        &self,
        run_id: &str,
        f: &mut dyn FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()> {
        let mut verdicts = self.conn.prepare(
            "SELECT judge, label, score, hazard, rationale FROM verdicts WHERE attempt_key = ?1 ORDER BY judge",
        )?;
        let mut st = self.conn.prepare(
            "SELECT a.key, a.case_id, c.base_case_id, c.body, a.attack, a.defense, a.repeat, a.request,
                    a.response_text, a.finish_reason, a.model, a.latency_ms, a.prompt_tokens,
                    a.completion_tokens, a.error_kind, a.error_message, a.retries, a.cached, a.guard_events
             FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
             WHERE a.run_id = ?1 ORDER BY a.rowid",
        )?;
        let mut rows = st.query([run_id])?;
        // Keep only the most recent case decoded: attempts of one case are written together.
        let mut case_cache: HashMap<String, Arc<Case>> = HashMap::new();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let case_id: String = row.get(1)?;
            let attack: String = row.get(4)?;
            let cache_key = format!("{attack}\0{case_id}");
            let case = match case_cache.get(&cache_key) {
                Some(c) => c.clone(),
                None => {
                    let body: String = row.get(3)?;
                    let c = Arc::new(cases::decode(&self.conn, &body)?);
                    if case_cache.len() > 256 {
                        case_cache.clear();
                    }
                    case_cache.insert(cache_key, c.clone());
                    c
                }
            };
            let request: String = row.get(7)?;
            let request: RequestSummary = serde_json::from_str(&request)
                .map_err(|e| StoreError::corrupt(format!("attempt {key}: request: {e}")))?;
            let error_kind: Option<String> = row.get(14)?;
            let latency_ms: f64 = row.get(11)?;
            let retries: u32 = row.get(16)?;
            let outcome = match error_kind {
                Some(kind) => Err(AttemptError {
                    kind,
                    message: row.get::<_, Option<String>>(15)?.unwrap_or_default(),
                    retries,
                    latency_ms,
                }),
                None => {
                    let events: Option<String> = row.get(18)?;
                    let events = match events {
                        Some(e) => serde_json::from_str(&e).map_err(|e| {
                            StoreError::corrupt(format!("attempt {key}: guard events: {e}"))
                        })?,
                        None => Vec::new(),
                    };
                    Ok(Response {
                        text: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
                        finish_reason: FinishReason::parse(
                            &row.get::<_, Option<String>>(9)?.unwrap_or_default(),
                        ),
                        usage: Usage {
                            prompt_tokens: row.get::<_, i64>(12)? as u64,
                            completion_tokens: row.get::<_, i64>(13)? as u64,
                        },
                        latency_ms,
                        model: row.get(10)?,
                        cached: row.get(17)?,
                        retries,
                        events,
                    })
                }
            };
            let mut vs = Vec::new();
            let mut vrows = verdicts.query([&key])?;
            while let Some(v) = vrows.next()? {
                vs.push(row_to_verdict(v)?);
            }
            f(StoredAttempt {
                key,
                run_id: run_id.to_string(),
                case,
                base_case_id: row.get(2)?,
                attack,
                defense: row.get(5)?,
                repeat: row.get(6)?,
                request,
                outcome,
                verdicts: vs,
            })?;
        }
        Ok(())
    }

    /// One observation per (attempt, judge), for the metrics. `judge` filters
    /// to one judge's verdicts; attempts that judge has not seen are left out.
    pub fn observations(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>> {
        self.observations_inner(run_id, judge)
            .map_err(|e| e.at(&self.display))
    }

    fn observations_inner(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>> {
        let mut st = self.conn.prepare(
            "SELECT a.case_id, c.base_case_id, c.hazard, c.expect, a.attack, a.defense, a.repeat,
                    v.judge, v.label, a.error_kind, v.score, a.latency_ms, a.prompt_tokens,
                    a.completion_tokens, a.guard_ms, a.guard_extra_calls, a.guard_extra_tokens, c.pair_id
             FROM attempts a
             JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
             JOIN verdicts v ON v.attempt_key = a.key
             WHERE a.run_id = ?1 AND (?2 IS NULL OR v.judge = ?2)
             ORDER BY a.rowid, v.judge",
        )?;
        let mut rows = st.query(params![run_id, judge])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let hazard: String = r.get(2)?;
            let expect: String = r.get(3)?;
            let label: String = r.get(8)?;
            out.push(Observation {
                case_id: r.get(0)?,
                base_case_id: r.get(1)?,
                hazard: hazard
                    .parse::<Hazard>()
                    .map_err(|_| StoreError::corrupt(format!("unknown hazard `{hazard}`")))?,
                expect: parse_expect(&expect)?,
                attack: r.get(4)?,
                defense: r.get(5)?,
                repeat: r.get(6)?,
                judge: r.get(7)?,
                label: Label::parse(&label)
                    .ok_or_else(|| StoreError::corrupt(format!("unknown label `{label}`")))?,
                error_kind: r.get(9)?,
                score: r.get(10)?,
                latency_ms: r.get(11)?,
                usage: Usage {
                    prompt_tokens: r.get::<_, i64>(12)? as u64,
                    completion_tokens: r.get::<_, i64>(13)? as u64,
                },
                guard_ms: r.get(14)?,
                guard_extra_calls: r.get(15)?,
                guard_extra_tokens: r.get::<_, i64>(16)? as u64,
                pair_id: r.get(17)?,
            });
        }
        Ok(out)
    }

    /// Distinct judges with verdicts in a run.
    pub fn judges(&self, run_id: &str) -> Result<Vec<String>> {
        let run = || -> Result<Vec<String>> {
            let mut st = self.conn.prepare(
                "SELECT DISTINCT v.judge FROM verdicts v JOIN attempts a ON a.key = v.attempt_key
                 WHERE a.run_id = ?1 ORDER BY v.judge",
            )?;
            let rows = st.query_map([run_id], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for j in rows {
                out.push(j?);
            }
            Ok(out)
        };
        run().map_err(|e| e.at(&self.display))
    }
}

/// Delete the attempt `key` of `run_id` and its verdicts if it is recorded as
/// a target error; returns its rowid so the replacement can take its place.
/// An attempt recorded with a response is left alone (`None`).
fn drop_error_attempt(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    key: &str,
) -> Result<Option<i64>> {
    let rowid: Option<i64> = tx
        .prepare_cached(
            "SELECT rowid FROM attempts WHERE key = ?1 AND run_id = ?2 AND error_kind IS NOT NULL",
        )?
        .query_row(params![key, run_id], |r| r.get(0))
        .optional()?;
    if rowid.is_some() {
        // Verdicts and labels first: they reference the attempt (foreign
        // keys are on). A label on an error row described no reply.
        tx.prepare_cached("DELETE FROM verdicts WHERE attempt_key = ?1")?
            .execute([key])?;
        tx.prepare_cached("DELETE FROM labels WHERE attempt_key = ?1")?
            .execute([key])?;
        tx.prepare_cached("DELETE FROM attempts WHERE key = ?1")?
            .execute([key])?;
    }
    Ok(rowid)
}

fn guard_totals(r: &Response) -> (f64, u32, u64) {
    r.events.iter().fold((0.0, 0, 0), |(ms, calls, tok), e| {
        (
            ms + e.latency_ms,
            calls + e.extra_calls,
            tok + e.extra_usage.total(),
        )
    })
}

fn insert_verdict(st: &mut rusqlite::CachedStatement<'_>, key: &str, v: &Verdict) -> Result<()> {
    st.execute(params![
        key,
        v.judge,
        v.label.as_str(),
        v.score,
        v.hazard.map(|h| h.slug()),
        v.rationale,
    ])?;
    Ok(())
}

pub(crate) fn row_to_verdict(r: &rusqlite::Row<'_>) -> Result<Verdict> {
    let label: String = r.get(1)?;
    let hazard: Option<String> = r.get(3)?;
    Ok(Verdict {
        judge: r.get(0)?,
        label: Label::parse(&label)
            .ok_or_else(|| StoreError::corrupt(format!("unknown label `{label}`")))?,
        score: r.get(2)?,
        hazard: match hazard {
            Some(h) => Some(
                h.parse::<Hazard>()
                    .map_err(|_| StoreError::corrupt(format!("unknown hazard `{h}`")))?,
            ),
            None => None,
        },
        rationale: r.get(4)?,
    })
}

pub fn parse_expect(s: &str) -> Result<Expect> {
    match s {
        "refuse" => Ok(Expect::Refuse),
        "comply" => Ok(Expect::Comply),
        other => Err(StoreError::corrupt(format!("unknown expect `{other}`"))),
    }
}

/// Row → run; the inner `Result` carries JSON decoding problems.
fn row_to_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Run>> {
    let id: String = r.get(0)?;
    let status: String = r.get(4)?;
    let plan: String = r.get(5)?;
    let seed: i64 = r.get(6)?;
    let versions: String = r.get(7)?;
    let name: Option<String> = r.get(1)?;
    let created: String = r.get(2)?;
    let finished: Option<String> = r.get(3)?;
    Ok((|| {
        Ok(Run {
            status: RunStatus::parse(&status).ok_or_else(|| {
                StoreError::corrupt(format!("run {id}: unknown status `{status}`"))
            })?,
            plan: serde_json::from_str(&plan)
                .map_err(|e| StoreError::corrupt(format!("run {id}: plan: {e}")))?,
            versions: serde_json::from_str(&versions)
                .map_err(|e| StoreError::corrupt(format!("run {id}: versions: {e}")))?,
            seed: seed as u64,
            id,
            name,
            created,
            finished,
        })
    })())
}

/// A salt for a new run id: the clock, the process and a per-process counter,
/// so two runs never draw the same salt inside one process.
fn run_id_salt(new: &NewRun) -> u64 {
    static CREATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nth = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    mmsafe_core::seed::derive(
        new.seed,
        &[
            &nanos.to_string(),
            &std::process::id().to_string(),
            &nth.to_string(),
            new.name.as_deref().unwrap_or(""),
        ],
    )
}
