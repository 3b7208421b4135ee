//! PostgreSQL run store (`--store postgres://…`): the SQLite store's tables,
//! forward migrations and invariants, for N workers writing one run at once
//! (the shards of a Slurm array or a Kubernetes Indexed Job).
//!
//! - One attempt per key: `attempts.key` is the primary key and every insert
//!   is `ON CONFLICT DO NOTHING`, so two workers that both send an attempt
//!   (never planned, but a resubmitted shard racing its old self) keep one.
//! - An attempt is written with its verdicts or not at all: each batch is one
//!   transaction. Deadlocks and serialization failures between concurrent
//!   batches (two shards inserting the same shared case) are retried whole.
//! - Resume never repeats a finished attempt: the engine skips the keys this
//!   store reports, exactly as with SQLite.
//! - One writer per run or shard: a session-level advisory lock on its own
//!   connection, released by the server when the worker dies.
//!
//! The client is the synchronous `postgres` crate, which runs its own small
//! runtime: every call is made off the caller's async runtime ([`off_runtime`]).
//! Credentials in the URL never reach messages: the store is described by
//! [`mmsafe_store::redact_url`], and driver errors, which do not carry the URL,
//! are passed through that too in case a password was echoed.

use mmsafe_core::{FinishReason, Hazard, Label, Response, Usage, Verdict};
use mmsafe_metrics::Observation;
use mmsafe_store::shard::{run_status_of, Shard};
use mmsafe_store::{
    cases, parse_expect, redact_url, AttemptError, NewAttempt, NewCase, NewRun, RequestSummary,
    Run, RunGuard, RunStatus, RunStore, RunSummary, ShardRow, StoreError, StoredAttempt,
};
use postgres::{Client, NoTls, Row, Transaction};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `MIGRATIONS[i]` takes a database from version `i` to `i + 1`; the same
/// steps as the SQLite store's, in PostgreSQL's types.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
    CREATE TABLE runs (
        id        TEXT PRIMARY KEY,
        name      TEXT,
        created   TEXT NOT NULL,
        status    TEXT NOT NULL,
        plan      TEXT NOT NULL,
        seed      BIGINT NOT NULL,
        versions  TEXT NOT NULL,
        finished  TEXT,
        seq       BIGSERIAL
    );
    CREATE INDEX runs_name ON runs(name);
    CREATE TABLE images (
        sha256     TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        bytes      BYTEA NOT NULL
    );
    CREATE TABLE cases (
        run_id       TEXT NOT NULL REFERENCES runs(id),
        attack       TEXT NOT NULL,
        case_id      TEXT NOT NULL,
        base_case_id TEXT NOT NULL,
        hazard       TEXT NOT NULL,
        expect       TEXT NOT NULL,
        pair_id      TEXT,
        body         TEXT NOT NULL,
        PRIMARY KEY (run_id, attack, case_id)
    );
    CREATE SEQUENCE attempts_seq;
    CREATE TABLE attempts (
        key               TEXT PRIMARY KEY,
        run_id            TEXT NOT NULL REFERENCES runs(id),
        case_id           TEXT NOT NULL,
        attack            TEXT NOT NULL,
        defense           TEXT NOT NULL,
        repeat            BIGINT NOT NULL,
        request           TEXT NOT NULL,
        response_text     TEXT,
        finish_reason     TEXT,
        model             TEXT,
        latency_ms        DOUBLE PRECISION NOT NULL,
        prompt_tokens     BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        error_kind        TEXT,
        error_message     TEXT,
        retries           BIGINT NOT NULL,
        cached            BOOLEAN NOT NULL,
        guard_events      TEXT,
        guard_ms          DOUBLE PRECISION NOT NULL,
        guard_extra_calls BIGINT NOT NULL,
        guard_extra_tokens BIGINT NOT NULL,
        seq               BIGINT NOT NULL DEFAULT nextval('attempts_seq')
    );
    CREATE INDEX attempts_run ON attempts(run_id, seq);
    CREATE TABLE verdicts (
        attempt_key TEXT NOT NULL REFERENCES attempts(key),
        judge       TEXT NOT NULL,
        label       TEXT NOT NULL,
        score       DOUBLE PRECISION,
        hazard      TEXT,
        rationale   TEXT NOT NULL,
        PRIMARY KEY (attempt_key, judge)
    );
    "#,
    // 2: per-shard progress; the SQLite store's statement, valid here as is.
    mmsafe_store::shard::MIGRATION,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Times a batch is retried after a deadlock or serialization failure.
const TX_RETRIES: usize = 8;

/// An open PostgreSQL store.
pub struct PgStore {
    /// Always `Some` until dropped (see `Drop`).
    client: std::sync::Mutex<Option<Client>>,
    /// Kept to open lock connections; never shown.
    url: String,
    display: String,
    cache: Cache,
}

/// What a connection remembers between batches: images known to be stored,
/// and prepared statements (one round trip each, saved on every batch after
/// the first; statements outlive the transactions they were prepared in).
#[derive(Default)]
struct Cache {
    images: HashSet<String>,
    statements: HashMap<&'static str, postgres::Statement>,
}

impl Cache {
    fn prepare(
        &mut self,
        tx: &mut Transaction<'_>,
        sql: &'static str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = tx.prepare(sql)?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }
}

/// Run `f` where the synchronous client may block: on a scoped thread when
/// called from inside an async runtime (whose worker must not block on
/// another runtime), directly otherwise.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    })
}

fn pg_err(display: &str, url: &str, e: postgres::Error) -> StoreError {
    let mut message = e.to_string();
    if let Some(db) = e.as_db_error() {
        message = format!("{}: {}", db.severity(), db.message());
    } else if let Some(src) = std::error::Error::source(&e) {
        message = format!("{message}: {src}");
    }
    // The driver does not echo the URL, but never let a password through.
    if let Some(pw) = password_of(url) {
        if !pw.is_empty() {
            message = message.replace(&pw, "***");
        }
    }
    StoreError::Backend {
        path: display.to_string(),
        message,
    }
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let userinfo = &auth[..auth.rfind('@')?];
    Some(userinfo.split_once(':')?.1.to_string())
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::corrupt(what)
}

impl PgStore {
    /// Connect and migrate. An unreachable server, bad credentials or a
    /// database written by a newer mmsafe fail here, before anything is written.
    pub fn connect(url: &str) -> Result<PgStore> {
        let display = redact_url(url);
        let url_owned = url.to_string();
        off_runtime(move || {
            let mut client =
                Client::connect(&url_owned, NoTls).map_err(|e| pg_err(&display, &url_owned, e))?;
            migrate(&mut client, &display).map_err(|e| match e {
                Migrate::Pg(e) => pg_err(&display, &url_owned, e),
                Migrate::Store(e) => e,
            })?;
            // The SQLite store's open event, so one count covers both
            // backends; `display` has no credentials.
            // (Bound first: tracing's macros shadow a local named `display`.)
            let store = display.as_str();
            tracing::debug!(target: mmsafe_store::OPEN_EVENT, store, "run store opened");
            Ok(PgStore {
                client: std::sync::Mutex::new(Some(client)),
                url: url_owned,
                display,
                cache: Cache::default(),
            })
        })
    }

    fn err(&self, e: postgres::Error) -> StoreError {
        pg_err(&self.display, &self.url, e)
    }

    /// Run `f` with the client, off the async runtime, errors named by this store.
    fn with<T: Send>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Cache) -> Result<T, Failure> + Send,
    ) -> Result<T> {
        let client = match self.client.get_mut() {
            Ok(Some(c)) => c,
            _ => return Err(corrupt("store connection poisoned by a panic")),
        };
        let known = &mut self.cache;
        let r = off_runtime(move || f(client, known));
        r.map_err(|e| match e {
            Failure::Pg(e) => pg_err(&self.display, &self.url, e),
            Failure::Store(e) => e,
        })
    }

    /// [`PgStore::with`] for reads (`&self`): the client sits behind a
    /// mutex because its queries need `&mut`; one thread uses a store at a time.
    fn read<T: Send>(&self, f: impl FnOnce(&mut Client) -> Result<T, Failure> + Send) -> Result<T> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| corrupt("store connection poisoned by a panic"))?;
        let client: &mut Client = guard
            .as_mut()
            .ok_or_else(|| corrupt("store connection closed"))?;
        let r = off_runtime(move || f(client));
        drop(guard);
        r.map_err(|e| match e {
            Failure::Pg(e) => self.err(e),
            Failure::Store(e) => e,
        })
    }

    fn put_batch_inner(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
        replace_errors: bool,
    ) -> Result<usize> {
        self.with(|client, known| {
            let mut tries = 0;
            loop {
                let mut tx = client.transaction().map_err(Failure::Pg)?;
                match write_batch(&mut tx, known, run_id, cases, attempts, replace_errors)
                    .and_then(|n| tx.commit().map(|()| n).map_err(Failure::Pg))
                {
                    Ok(n) => return Ok(n),
                    Err(Failure::Pg(e)) if retryable(&e) && tries < TX_RETRIES => {
                        tries += 1;
                        // Images noted in the rolled-back transaction are not there.
                        known.images.clear();
                        std::thread::sleep(std::time::Duration::from_millis(10 << tries.min(6)));
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }
}

enum Migrate {
    Pg(postgres::Error),
    Store(StoreError),
}

/// A failure inside a transaction: the driver's, or the store's own check.
enum Failure {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Pg(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

fn retryable(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::UNIQUE_VIOLATION
    })
}

/// Forward-only, under a transaction-scoped advisory lock so N workers
/// connecting to a new database at once run each step once.
fn migrate(client: &mut Client, display: &str) -> Result<(), Migrate> {
    let mut tx = client.transaction().map_err(Migrate::Pg)?;
    tx.execute("SELECT pg_advisory_xact_lock(7242011519)", &[])
        .map_err(Migrate::Pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS mmsafe_schema (version INTEGER NOT NULL)")
        .map_err(Migrate::Pg)?;
    let current: Option<i32> = tx
        .query_opt("SELECT version FROM mmsafe_schema", &[])
        .map_err(Migrate::Pg)?
        .map(|r| r.get(0));
    let current = current.unwrap_or(0).max(0) as u32;
    if current > SCHEMA_VERSION {
        return Err(Migrate::Store(StoreError::TooNew {
            path: display.to_string(),
            found: current,
            supported: SCHEMA_VERSION,
        }));
    }
    for sql in MIGRATIONS.iter().skip(current as usize) {
        tx.batch_execute(sql).map_err(Migrate::Pg)?;
    }
    if current < SCHEMA_VERSION {
        tx.execute("DELETE FROM mmsafe_schema", &[])
            .map_err(Migrate::Pg)?;
        tx.execute(
            "INSERT INTO mmsafe_schema (version) VALUES ($1)",
            &[&(SCHEMA_VERSION as i32)],
        )
        .map_err(Migrate::Pg)?;
    }
    tx.commit().map_err(Migrate::Pg)
}

const NOW: &str = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
const RUN_COLS: &str = "id, name, created, finished, status, plan, seed, versions";

fn row_to_run(r: &Row) -> Result<Run> {
    let id: String = r.get(0);
    let status: String = r.get(4);
    let plan: String = r.get(5);
    let versions: String = r.get(7);
    Ok(Run {
        status: RunStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("run {id}: unknown status `{status}`")))?,
        plan: serde_json::from_str(&plan).map_err(|e| corrupt(format!("run {id}: plan: {e}")))?,
        versions: serde_json::from_str(&versions)
            .map_err(|e| corrupt(format!("run {id}: versions: {e}")))?,
        seed: r.get::<_, i64>(6) as u64,
        name: r.get(1),
        created: r.get(2),
        finished: r.get(3),
        id,
    })
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt(e.to_string()))
}

fn write_batch(
    tx: &mut Transaction<'_>,
    known: &mut Cache,
    run_id: &str,
    cases: &[NewCase],
    attempts: &[NewAttempt],
    replace_errors: bool,
) -> Result<usize, Failure> {
    let img = known.prepare(
        tx,
        "INSERT INTO images (sha256, media_type, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )?;
    let case_st = known.prepare(
        tx,
        "INSERT INTO cases (run_id, attack, case_id, base_case_id, hazard, expect, pair_id, body)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
    )?;
    for c in cases {
        for image in c.case.images() {
            if known.images.contains(image.sha256()) {
                continue;
            }
            tx.execute(
                &img,
                &[&image.sha256(), &image.media_type(), &image.bytes()],
            )?;
            known.images.insert(image.sha256().to_string());
        }
        let body = cases::encode_body(&c.case)?;
        tx.execute(
            &case_st,
            &[
                &run_id,
                &c.attack,
                &c.case.id,
                &mmsafe_store::base_case_id(&c.case),
                &c.case.hazard.slug(),
                &c.case.expect.to_string(),
                &cases::pair_id(&c.case),
                &body,
            ],
        )?;
    }
    let ins = known.prepare(
        tx,
        "INSERT INTO attempts (key, run_id, case_id, attack, defense, repeat, request,
           response_text, finish_reason, model, latency_ms, prompt_tokens, completion_tokens,
           error_kind, error_message, retries, cached, guard_events, guard_ms,
           guard_extra_calls, guard_extra_tokens, seq)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,
                 COALESCE($22, nextval('attempts_seq')))
         ON CONFLICT (key) DO NOTHING",
    )?;
    let ver = known.prepare(
        tx,
        "INSERT INTO verdicts (attempt_key, judge, label, score, hazard, rationale)
         VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
    )?;
    let mut new = 0;
    for a in attempts {
        let request = json(&a.request)?;
        // `--retry-errors`: the error row and its verdicts go, and the new
        // outcome keeps the error's place in write order.
        let seq: Option<i64> = if replace_errors {
            let seq: Option<i64> = tx
                .query_opt(
                    "SELECT seq FROM attempts WHERE key = $1 AND run_id = $2 AND error_kind IS NOT NULL",
                    &[&a.key, &run_id],
                )?
                .map(|r| r.get(0));
            if seq.is_some() {
                tx.execute("DELETE FROM verdicts WHERE attempt_key = $1", &[&a.key])?;
                tx.execute("DELETE FROM attempts WHERE key = $1", &[&a.key])?;
            }
            seq
        } else {
            None
        };
        let repeat = i64::from(a.repeat);
        let n = match &a.outcome {
            Ok(r) => {
                let (gms, gcalls, gtok) =
                    r.events.iter().fold((0.0, 0u32, 0u64), |(ms, c, t), e| {
                        (
                            ms + e.latency_ms,
                            c + e.extra_calls,
                            t + e.extra_usage.total(),
                        )
                    });
                let events = if r.events.is_empty() {
                    None
                } else {
                    Some(json(&r.events)?)
                };
                tx.execute(
                    &ins,
                    &[
                        &a.key,
                        &run_id,
                        &a.case_id,
                        &a.attack,
                        &a.defense,
                        &repeat,
                        &request,
                        &r.text,
                        &r.finish_reason.as_str(),
                        &r.model,
                        &r.latency_ms,
                        &(r.usage.prompt_tokens as i64),
                        &(r.usage.completion_tokens as i64),
                        &None::<String>,
                        &None::<String>,
                        &i64::from(r.retries),
                        &r.cached,
                        &events,
                        &gms,
                        &i64::from(gcalls),
                        &(gtok as i64),
                        &seq,
                    ],
                )?
            }
            Err(e) => tx.execute(
                &ins,
                &[
                    &a.key,
                    &run_id,
                    &a.case_id,
                    &a.attack,
                    &a.defense,
                    &repeat,
                    &request,
                    &None::<String>,
                    &None::<String>,
                    &None::<String>,
                    &e.latency_ms,
                    &0i64,
                    &0i64,
                    &Some(e.kind.as_str()),
                    &Some(e.message.as_str()),
                    &i64::from(e.retries),
                    &false,
                    &None::<String>,
                    &0.0f64,
                    &0i64,
                    &0i64,
                    &seq,
                ],
            )?,
        };
        if n == 0 {
            continue;
        }
        new += 1;
        for v in &a.verdicts {
            tx.execute(
                &ver,
                &[
                    &a.key,
                    &v.judge,
                    &v.label.as_str(),
                    &v.score,
                    &v.hazard.map(|h| h.slug()),
                    &v.rationale,
                ],
            )?;
        }
    }
    Ok(new)
}

fn shard_rows(
    c: &mut impl postgres::GenericClient,
    run_id: &str,
) -> Result<Vec<ShardRow>, Failure> {
    Ok(c.query(
        "SELECT shard_index, shard_count, status, started, finished, planned FROM run_shards
         WHERE run_id = $1 ORDER BY shard_index",
        &[&run_id],
    )?
    .iter()
    .map(|r| ShardRow {
        index: r.get::<_, i32>(0) as u32,
        count: r.get::<_, i32>(1) as u32,
        status: r.get(2),
        started: r.get(3),
        finished: r.get(4),
        planned: r.get::<_, Option<i32>>(5).map(|p| p as u64),
    })
    .collect())
}

fn set_status(
    c: &mut impl postgres::GenericClient,
    run_id: &str,
    status: RunStatus,
) -> Result<(), Failure> {
    c.execute(
        &format!(
            "UPDATE runs SET status = $2, finished = CASE WHEN $2 = 'running' THEN NULL ELSE {NOW} END
             WHERE id = $1"
        ),
        &[&run_id, &status.as_str()],
    )?;
    Ok(())
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the client blocks on its runtime: never on an async worker.
        if let Ok(c) = self.client.get_mut() {
            if let Some(c) = c.take() {
                off_runtime(move || drop(c));
            }
        }
    }
}

/// A held advisory lock: its own connection, closed (and the lock with it) on drop.
struct PgLock {
    client: Option<Client>,
}

impl Drop for PgLock {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            off_runtime(move || drop(c));
        }
    }
}

impl RunGuard for PgLock {}

/// Two 32-bit advisory lock keys for a run (and shard, or -1 for the whole run).
fn lock_keys(run_id: &str, shard: Option<Shard>) -> (i32, i32) {
    let h = mmsafe_core::seed::derive(0x4c4f_434b, &[run_id]) as u32 as i32;
    (h, shard.map_or(-1, |s| s.index as i32))
}

impl RunStore for PgStore {
    fn describe(&self) -> String {
        self.display.clone()
    }

    fn create_run(&mut self, new: &NewRun) -> Result<Run> {
        let plan = json(&new.plan)?;
        let versions = json(&new.versions)?;
        let seed = new.seed as i64;
        let name = new.name.clone();
        self.with(move |c, _| {
            for nth in 0u64..16 {
                let stamp: String = c
                    .query_one(
                        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD-HH24MISS')",
                        &[],
                    )?
                    .get(0);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let salt = mmsafe_core::seed::derive(
                    new.seed,
                    &[
                        &nanos.to_string(),
                        &std::process::id().to_string(),
                        &nth.to_string(),
                        name.as_deref().unwrap_or(""),
                    ],
                );
                let id = format!("{stamp}-{:06x}", salt & 0xff_ffff);
                let n = c.execute(
                    &format!(
                        "INSERT INTO runs (id, name, created, status, plan, seed, versions)
                         VALUES ($1, $2, {NOW}, 'running', $3, $4, $5) ON CONFLICT (id) DO NOTHING"
                    ),
                    &[&id, &name, &plan, &seed, &versions],
                )?;
                if n == 1 {
                    let r = c.query_one(
                        &format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"),
                        &[&id],
                    )?;
                    return Ok(row_to_run(&r)?);
                }
            }
            Err(Failure::Store(corrupt(
                "could not draw a fresh run id in 16 tries",
            )))
        })
    }

    fn create_or_join_run(&mut self, id: &str, new: &NewRun, shard: Shard) -> Result<(Run, bool)> {
        let plan = json(&new.plan)?;
        let versions = json(&new.versions)?;
        let display = self.display.clone();
        self.with(move |c, _| {
            let mut tx = c.transaction()?;
            // Workers starting together: the first inserts, the others join.
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO runs (id, name, created, status, plan, seed, versions)
                     VALUES ($1, $2, {NOW}, 'running', $3, $4, $5) ON CONFLICT (id) DO NOTHING"
                ),
                &[&id, &new.name, &plan, &(new.seed as i64), &versions],
            )?;
            let run = row_to_run(&tx.query_one(
                &format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"),
                &[&id],
            )?)?;
            let d = mmsafe_store::plan_differences(&run.plan, &new.plan, (run.seed, new.seed));
            if !d.is_empty() {
                return Err(Failure::Store(StoreError::PlanMismatch {
                    path: display.clone(),
                    run: id.to_string(),
                    fields: d.join(", "),
                }));
            }
            if let Some(other) = shard_rows(&mut tx, id)?
                .iter()
                .find(|r| r.count != shard.count)
            {
                return Err(Failure::Store(StoreError::ShardCountMismatch {
                    path: display.clone(),
                    run: id.to_string(),
                    have: other.count,
                    given: shard.count,
                }));
            }
            tx.commit()?;
            Ok((run, inserted == 0))
        })
    }

    fn import_run(&mut self, run: &Run) -> Result<bool> {
        let plan = json(&run.plan)?;
        let versions = json(&run.versions)?;
        let display = self.display.clone();
        self.with(move |c, _| {
            if let Some(r) = c.query_opt(
                &format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"),
                &[&run.id],
            )? {
                let have = row_to_run(&r)?;
                let d =
                    mmsafe_store::plan_differences(&have.plan, &run.plan, (have.seed, run.seed));
                if !d.is_empty() {
                    return Err(Failure::Store(StoreError::PlanMismatch {
                        path: display.clone(),
                        run: run.id.clone(),
                        fields: d.join(", "),
                    }));
                }
                return Ok(false);
            }
            c.execute(
                "INSERT INTO runs (id, name, created, finished, status, plan, seed, versions)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[
                    &run.id,
                    &run.name,
                    &run.created,
                    &run.finished,
                    &run.status.as_str(),
                    &plan,
                    &(run.seed as i64),
                    &versions,
                ],
            )?;
            Ok(true)
        })
    }

    fn resolve_run(&self, query: &str) -> Result<Run> {
        let display = self.display.clone();
        self.read(move |c| {
            let not_found = || {
                Failure::Store(StoreError::RunNotFound {
                    path: display.clone(),
                    query: query.to_string(),
                })
            };
            let by = |c: &mut Client, sql: &str, arg: &str| -> Result<Vec<Run>, Failure> {
                let rows = if sql.contains("$1") {
                    c.query(sql, &[&arg])?
                } else {
                    c.query(sql, &[])?
                };
                Ok(rows.iter().map(row_to_run).collect::<Result<_>>()?)
            };
            if query == "latest" {
                return by(c, &format!("SELECT {RUN_COLS} FROM runs ORDER BY created DESC, seq DESC LIMIT 1"), "")?
                    .pop()
                    .ok_or_else(not_found);
            }
            if let Some(r) = by(c, &format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"), query)?.pop() {
                return Ok(r);
            }
            if let Some(r) = by(
                c,
                &format!("SELECT {RUN_COLS} FROM runs WHERE name = $1 ORDER BY created DESC, seq DESC LIMIT 1"),
                query,
            )?
            .pop()
            {
                return Ok(r);
            }
            let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let mut hits = by(
                c,
                &format!("SELECT {RUN_COLS} FROM runs WHERE id LIKE $1 || '%' LIMIT 5"),
                &escaped,
            )?;
            match hits.len() {
                0 => Err(not_found()),
                1 => Ok(hits.remove(0)),
                _ => Err(Failure::Store(StoreError::Ambiguous {
                    path: display.clone(),
                    query: query.to_string(),
                    candidates: hits.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "),
                })),
            }
        })
    }

    fn list_runs(&self) -> Result<Vec<RunSummary>> {
        self.read(|c| {
            let rows = c.query(
                "SELECT r.id, r.name, r.created, r.finished, r.status, r.plan, r.seed, r.versions,
                        (SELECT count(*) FROM attempts a WHERE a.run_id = r.id),
                        (SELECT count(*) FROM attempts a WHERE a.run_id = r.id AND a.error_kind IS NOT NULL)
                 FROM runs r ORDER BY r.created DESC, r.seq DESC",
                &[],
            )?;
            let mut out = Vec::new();
            for r in &rows {
                out.push(RunSummary {
                    run: row_to_run(r)?,
                    attempts: r.get::<_, i64>(8) as u64,
                    errors: r.get::<_, i64>(9) as u64,
                });
            }
            Ok(out)
        })
    }

    fn close_run(&mut self, run_id: &str, status: RunStatus) -> Result<()> {
        self.with(|c, _| set_status(c, run_id, status))
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
        self.with(move |c, _| {
            let mut tx = c.transaction()?;
            // Serializes the shards' status updates of one run, so the run's
            // status is computed from a consistent set of shard rows.
            let (k1, _) = lock_keys(run_id, None);
            tx.execute("SELECT pg_advisory_xact_lock($1, -2)", &[&k1])?;
            tx.execute(
                &format!(
                    "INSERT INTO run_shards (run_id, shard_index, shard_count, status, started, finished, planned)
                     VALUES ($1, $2, $3, $4, {NOW}, CASE WHEN $4 = 'running' THEN NULL ELSE {NOW} END, $5)
                     ON CONFLICT (run_id, shard_index) DO UPDATE SET status = excluded.status,
                       shard_count = excluded.shard_count,
                       started = CASE WHEN excluded.status = 'running' THEN excluded.started ELSE run_shards.started END,
                       finished = excluded.finished,
                       planned = COALESCE(excluded.planned, run_shards.planned)"
                ),
                &[
                    &run_id,
                    &(shard.index as i32),
                    &(shard.count as i32),
                    &status.as_str(),
                    &planned.map(|p| p.min(i32::MAX as u64) as i32),
                ],
            )?;
            let rows: Vec<(u32, String)> = shard_rows(&mut tx, run_id)?
                .into_iter()
                .map(|r| (r.index, r.status))
                .collect();
            set_status(&mut tx, run_id, run_status_of(&rows, shard.count))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn shard_rows(&self, run_id: &str) -> Result<Vec<ShardRow>> {
        self.read(|c| shard_rows(c, run_id))
    }

    fn put_shard_row(&mut self, run_id: &str, row: &ShardRow) -> Result<()> {
        self.with(|c, _| {
            c.execute(
                "INSERT INTO run_shards (run_id, shard_index, shard_count, status, started, finished, planned)
                 VALUES ($1,$2,$3,$4,$5,$6,$7)
                 ON CONFLICT (run_id, shard_index) DO UPDATE SET shard_count = excluded.shard_count,
                   status = excluded.status, started = excluded.started,
                   finished = excluded.finished, planned = excluded.planned",
                &[
                    &run_id,
                    &(row.index as i32),
                    &(row.count as i32),
                    &row.status,
                    &row.started,
                    &row.finished,
                    &row.planned.map(|p| p.min(i32::MAX as u64) as i32),
                ],
            )?;
            Ok(())
        })
    }

    fn put_batch(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        self.put_batch_inner(run_id, cases, attempts, false)
    }

    fn put_batch_replacing_errors(
        &mut self,
        run_id: &str,
        cases: &[NewCase],
        attempts: &[NewAttempt],
    ) -> Result<usize> {
        self.put_batch_inner(run_id, cases, attempts, true)
    }

    fn put_verdicts(&mut self, batch: &[(String, Verdict)]) -> Result<()> {
        self.with(|c, _| {
            let mut tx = c.transaction()?;
            let st = tx.prepare(
                "INSERT INTO verdicts (attempt_key, judge, label, score, hazard, rationale)
                 VALUES ($1,$2,$3,$4,$5,$6)
                 ON CONFLICT (attempt_key, judge) DO UPDATE SET label = excluded.label,
                   score = excluded.score, hazard = excluded.hazard, rationale = excluded.rationale",
            )?;
            for (key, v) in batch {
                tx.execute(
                    &st,
                    &[key, &v.judge, &v.label.as_str(), &v.score, &v.hazard.map(|h| h.slug()), &v.rationale],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn finished_keys(&self, run_id: &str) -> Result<HashSet<String>> {
        self.read(|c| {
            Ok(
                c.query("SELECT key FROM attempts WHERE run_id = $1", &[&run_id])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
            )
        })
    }

    fn finished_keys_except_errors(&self, run_id: &str) -> Result<HashSet<String>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT key FROM attempts WHERE run_id = $1 AND error_kind IS NULL",
                &[&run_id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn keys_with_errors(&self, run_id: &str) -> Result<Vec<(String, bool)>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT key, error_kind IS NOT NULL FROM attempts WHERE run_id = $1",
                &[&run_id],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn count_attempts(&self, run_id: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT count(*) FROM attempts WHERE run_id = $1",
                &[&run_id],
            )?
            .get::<_, i64>(0) as u64)
        })
    }

    fn count_errors(&self, run_id: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT count(*) FROM attempts WHERE run_id = $1 AND error_kind IS NOT NULL",
                &[&run_id],
            )?
            .get::<_, i64>(0) as u64)
        })
    }

    fn for_each_attempt(
        &self,
        run_id: &str,
        f: &mut dyn FnMut(StoredAttempt) -> Result<()>,
    ) -> Result<()> {
        // Read on the worker thread, hand the attempts over in order: the
        // callback may not be `Send`.
        let attempts = self.read(|c| read_attempts(c, run_id))?;
        for a in attempts {
            f(a)?;
        }
        Ok(())
    }

    fn observations(&self, run_id: &str, judge: Option<&str>) -> Result<Vec<Observation>> {
        self.read(|c| {
            let rows = c.query(
                "SELECT a.case_id, c.base_case_id, c.hazard, c.expect, a.attack, a.defense, a.repeat,
                        v.judge, v.label, a.error_kind, v.score, a.latency_ms, a.prompt_tokens,
                        a.completion_tokens, a.guard_ms, a.guard_extra_calls, a.guard_extra_tokens, c.pair_id
                 FROM attempts a
                 JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
                 JOIN verdicts v ON v.attempt_key = a.key
                 WHERE a.run_id = $1 AND ($2::TEXT IS NULL OR v.judge = $2)
                 ORDER BY a.seq, v.judge",
                &[&run_id, &judge],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let hazard: String = r.get(2);
                let expect: String = r.get(3);
                let label: String = r.get(8);
                out.push(Observation {
                    case_id: r.get(0),
                    base_case_id: r.get(1),
                    hazard: hazard
                        .parse::<Hazard>()
                        .map_err(|_| corrupt(format!("unknown hazard `{hazard}`")))?,
                    expect: parse_expect(&expect)?,
                    attack: r.get(4),
                    defense: r.get(5),
                    repeat: r.get::<_, i64>(6) as u32,
                    judge: r.get(7),
                    label: Label::parse(&label)
                        .ok_or_else(|| corrupt(format!("unknown label `{label}`")))?,
                    error_kind: r.get(9),
                    score: r.get(10),
                    latency_ms: r.get(11),
                    usage: Usage {
                        prompt_tokens: r.get::<_, i64>(12) as u64,
                        completion_tokens: r.get::<_, i64>(13) as u64,
                    },
                    guard_ms: r.get(14),
                    guard_extra_calls: r.get::<_, i64>(15) as u32,
                    guard_extra_tokens: r.get::<_, i64>(16) as u64,
                    pair_id: r.get(17),
                });
            }
            Ok(out)
        })
    }

    fn judges(&self, run_id: &str) -> Result<Vec<String>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT DISTINCT v.judge FROM verdicts v JOIN attempts a ON a.key = v.attempt_key
                 WHERE a.run_id = $1 ORDER BY v.judge",
                &[&run_id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn lock(&self, run_id: &str, shard: Option<Shard>) -> Result<Box<dyn RunGuard>> {
        let (k1, k2) = lock_keys(run_id, shard);
        let url = self.url.clone();
        let r = off_runtime(move || -> Result<Option<Client>, postgres::Error> {
            let mut c = Client::connect(&url, NoTls)?;
            let got: bool = c
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&k1, &k2])?
                .get(0);
            Ok(got.then_some(c))
        });
        match r {
            Ok(Some(c)) => Ok(Box::new(PgLock { client: Some(c) })),
            Ok(None) => Err(StoreError::RunBusy {
                path: self.display.clone(),
                run: match shard {
                    None => run_id.to_string(),
                    Some(s) => format!("{run_id}` shard `{s}"),
                },
                lock: format!("advisory lock ({k1}, {k2})"),
            }),
            Err(e) => Err(self.err(e)),
        }
    }
}

fn read_attempts(c: &mut Client, run_id: &str) -> Result<Vec<StoredAttempt>, Failure> {
    let rows = c.query(
        "SELECT a.key, a.case_id, c.base_case_id, c.body, a.attack, a.defense, a.repeat, a.request,
                a.response_text, a.finish_reason, a.model, a.latency_ms, a.prompt_tokens,
                a.completion_tokens, a.error_kind, a.error_message, a.retries, a.cached, a.guard_events
         FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
         WHERE a.run_id = $1 ORDER BY a.seq",
        &[&run_id],
    )?;
    let mut verdicts: HashMap<String, Vec<Verdict>> = HashMap::new();
    for r in &c.query(
        "SELECT v.attempt_key, v.judge, v.label, v.score, v.hazard, v.rationale FROM verdicts v
         JOIN attempts a ON a.key = v.attempt_key WHERE a.run_id = $1 ORDER BY v.attempt_key, v.judge",
        &[&run_id],
    )? {
        let key: String = r.get(0);
        let label: String = r.get(2);
        let hazard: Option<String> = r.get(4);
        verdicts.entry(key).or_default().push(Verdict {
            judge: r.get(1),
            label: Label::parse(&label).ok_or_else(|| corrupt(format!("unknown label `{label}`")))?,
            score: r.get(3),
            hazard: match hazard {
                Some(h) => Some(
                    h.parse::<Hazard>()
                        .map_err(|_| corrupt(format!("unknown hazard `{h}`")))?,
                ),
                None => None,
            },
            rationale: r.get(5),
        });
    }
    let img = c.prepare("SELECT bytes FROM images WHERE sha256 = $1")?;
    let mut case_cache: HashMap<String, Arc<mmsafe_core::Case>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.get(0);
        let attack: String = row.get(4);
        let case_id: String = row.get(1);
        let cache_key = format!("{attack}\0{case_id}");
        let case = match case_cache.get(&cache_key) {
            Some(c) => c.clone(),
            None => {
                let body: String = row.get(3);
                let mut missing = None;
                let decoded = cases::decode_body(&body, |sha| match c.query_opt(&img, &[&sha]) {
                    Ok(r) => Ok(r.map(|r| r.get::<_, Vec<u8>>(0))),
                    Err(e) => {
                        missing = Some(e);
                        Ok(Some(Vec::new()))
                    }
                });
                if let Some(e) = missing {
                    return Err(Failure::Pg(e));
                }
                let case = Arc::new(decoded?);
                if case_cache.len() > 256 {
                    case_cache.clear();
                }
                case_cache.insert(cache_key, case.clone());
                case
            }
        };
        let request: String = row.get(7);
        let request: RequestSummary = serde_json::from_str(&request)
            .map_err(|e| corrupt(format!("attempt {key}: request: {e}")))?;
        let error_kind: Option<String> = row.get(14);
        let latency_ms: f64 = row.get(11);
        let retries = row.get::<_, i64>(16) as u32;
        let outcome = match error_kind {
            Some(kind) => Err(AttemptError {
                kind,
                message: row.get::<_, Option<String>>(15).unwrap_or_default(),
                retries,
                latency_ms,
            }),
            None => {
                let events: Option<String> = row.get(18);
                let events = match events {
                    Some(e) => serde_json::from_str(&e)
                        .map_err(|e| corrupt(format!("attempt {key}: guard events: {e}")))?,
                    None => Vec::new(),
                };
                Ok(Response {
                    text: row.get::<_, Option<String>>(8).unwrap_or_default(),
                    finish_reason: FinishReason::parse(
                        &row.get::<_, Option<String>>(9).unwrap_or_default(),
                    ),
                    usage: Usage {
                        prompt_tokens: row.get::<_, i64>(12) as u64,
                        completion_tokens: row.get::<_, i64>(13) as u64,
                    },
                    latency_ms,
                    model: row.get(10),
                    cached: row.get(17),
                    retries,
                    events,
                })
            }
        };
        out.push(StoredAttempt {
            verdicts: verdicts.remove(&key).unwrap_or_default(),
            key,
            run_id: run_id.to_string(),
            case,
            base_case_id: row.get(2),
            attack,
            defense: row.get(5),
            repeat: row.get::<_, i64>(6) as u32,
            request,
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_for_scrubbing() {
        assert_eq!(
            password_of("postgres://u:p4ss@h/db").as_deref(),
            Some("p4ss")
        );
        assert_eq!(password_of("postgres://u@h/db"), None);
        assert_eq!(password_of("postgres://h/db"), None);
    }
}
