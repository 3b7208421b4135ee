//! Schema migrations, keyed by `PRAGMA user_version`.
//!
//! Forward-only: each entry upgrades from version `i` to `i + 1` and is never
//! edited once released; a store written by a newer mmsafe is refused rather
//! than guessed at.

use rusqlite::{Connection, TransactionBehavior};

/// `MIGRATIONS[i]` takes a store from `user_version = i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
    CREATE TABLE runs (
        id        TEXT PRIMARY KEY,
        name      TEXT,
        created   TEXT NOT NULL,
        status    TEXT NOT NULL,
        plan      TEXT NOT NULL,
        seed      INTEGER NOT NULL,
        versions  TEXT NOT NULL,
        finished  TEXT
    );
    CREATE INDEX runs_name ON runs(name);

    CREATE TABLE images (
        sha256     TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        bytes      BLOB NOT NULL
    ) WITHOUT ROWID;

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
    ) WITHOUT ROWID;

    CREATE TABLE attempts (
        key               TEXT PRIMARY KEY,
        run_id            TEXT NOT NULL REFERENCES runs(id),
        case_id           TEXT NOT NULL,
        attack            TEXT NOT NULL,
        defense           TEXT NOT NULL,
        repeat            INTEGER NOT NULL,
        request           TEXT NOT NULL,
        response_text     TEXT,
        finish_reason     TEXT,
        model             TEXT,
        latency_ms        REAL NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        error_kind        TEXT,
        error_message     TEXT,
        retries           INTEGER NOT NULL,
        cached            INTEGER NOT NULL,
        guard_events      TEXT,
        guard_ms          REAL NOT NULL,
        guard_extra_calls INTEGER NOT NULL,
        guard_extra_tokens INTEGER NOT NULL
    );
    CREATE INDEX attempts_run ON attempts(run_id);

    CREATE TABLE verdicts (
        attempt_key TEXT NOT NULL REFERENCES attempts(key),
        judge       TEXT NOT NULL,
        label       TEXT NOT NULL,
        score       REAL,
        hazard      TEXT,
        rationale   TEXT NOT NULL,
        PRIMARY KEY (attempt_key, judge)
    ) WITHOUT ROWID;
    "#,
    // 2: human labels (one per attempt and annotator), and the indexes the
    // browser's filters need to stay fast on 100,000-attempt runs.
    r#"
    CREATE TABLE labels (
        run_id      TEXT NOT NULL REFERENCES runs(id),
        attempt_key TEXT NOT NULL REFERENCES attempts(key),
        annotator   TEXT NOT NULL,
        label       TEXT NOT NULL,
        note        TEXT NOT NULL DEFAULT '',
        source      TEXT NOT NULL,
        created     TEXT NOT NULL,
        PRIMARY KEY (attempt_key, annotator)
    ) WITHOUT ROWID;
    CREATE INDEX labels_run ON labels(run_id, annotator);
    CREATE INDEX cases_run_hazard ON cases(run_id, hazard);
    CREATE INDEX attempts_run_attack ON attempts(run_id, attack, defense);
    "#,
    // 3: per-shard progress of sharded runs (issue 19).
    crate::shard::MIGRATION,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), crate::StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(crate::StoreError::TooNew {
            path: path.to_string(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    // Immediate, and the version re-read under the lock: two processes opening
    // a new store at once must not both run the same migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        // user_version cannot take a bound parameter.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}
