//! Audit log of guard decisions in SQLite: one row per proxied request.
//!
//! Rows are written by one background thread fed by a channel, so a slow disk
//! never delays a response; shutdown drains the channel. What is stored: time,
//! request id, client key index, model, policy, overall decision, HTTP status,
//! latency and the guard events (layer, decision, reason, latency, cost).
//! Never stored: API keys, prompts, images or answers.

use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

pub struct Record {
    pub ts_ms: u64,
    pub request_id: String,
    pub client: String,
    pub model: String,
    pub policy: String,
    pub decision: String,
    pub status: u16,
    pub latency_ms: f64,
    pub events: String,
}

pub struct AuditLog {
    tx: Option<mpsc::Sender<Record>>,
    thread: Option<JoinHandle<()>>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    client TEXT NOT NULL,
    model TEXT NOT NULL,
    policy TEXT NOT NULL,
    decision TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    events TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions(ts_ms);";

#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {message}")]
pub struct AuditError {
    pub path: PathBuf,
    pub message: String,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let err = |e: rusqlite::Error| AuditError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let (tx, rx) = mpsc::channel::<Record>();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("mmsafe-audit".into())
            .spawn(move || writer(conn, rx, shown))
            .map_err(|e| AuditError {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(AuditLog {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn record(&self, r: Record) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(r);
        }
    }

    /// Write everything queued, then stop the writer.
    pub fn close(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Record>, path: String) {
    while let Ok(first) = rx.recv() {
        // Batch whatever else is queued into one transaction.
        let mut batch = vec![first];
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
            if batch.len() >= 512 {
                break;
            }
        }
        let res = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO decisions (ts_ms, request_id, client, model, policy, decision, status, latency_ms, events)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for r in &batch {
                    st.execute(params![
                        r.ts_ms as i64,
                        r.request_id,
                        r.client,
                        r.model,
                        r.policy,
                        r.decision,
                        r.status,
                        r.latency_ms,
                        r.events
                    ])?;
                }
            }
            tx.commit()
        })();
        if let Err(e) = res {
            tracing::error!("audit log {path}: {e}; {} record(s) lost", batch.len());
        }
    }
}
