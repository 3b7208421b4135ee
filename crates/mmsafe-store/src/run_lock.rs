//! One writer per run: two scans of the same run (two `--resume`s, or a
//! resume while the first scan still runs) would send every pending case
//! twice and pay for it twice.
//!
//! An OS file lock rather than a row in the store: the kernel releases it
//! when the process dies, so a crashed scan never leaves its run locked.

use crate::{Result, Store, StoreError};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// Held for as long as a scan writes the run; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl Store {
    /// Lock `run_id` for this process, or fail with [`StoreError::RunBusy`]
    /// when another process holds it. The lock is a file beside the store
    /// (`<store>-run-<id>.lock`), removed when the lock is dropped.
    pub fn lock_run(&self, run_id: &str) -> Result<RunLock> {
        self.lock_run_part(run_id, None)
    }

    /// [`Store::lock_run`] for one shard of a run: shards of one run are
    /// written by as many processes at once, one per shard.
    pub fn lock_run_part(&self, run_id: &str, shard: Option<crate::Shard>) -> Result<RunLock> {
        let mut name = self.path.as_os_str().to_owned();
        // Run ids are timestamps and hex; anything else is kept out of the
        // file name.
        let safe: String = run_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match shard {
            None => name.push(format!("-run-{safe}.lock")),
            Some(s) => name.push(format!("-run-{safe}-shard-{}-of-{}.lock", s.index, s.count)),
        }
        let path = PathBuf::from(name);
        let fail = |source: std::io::Error| StoreError::Lock {
            path: self.display.clone(),
            run: run_id.to_string(),
            lock: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(fail)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(StoreError::RunBusy {
                path: self.display.clone(),
                run: match shard {
                    None => run_id.to_string(),
                    Some(s) => format!("{run_id}` shard `{s}"),
                },
                lock: path.display().to_string(),
            }),
            Err(TryLockError::Error(e)) => Err(fail(e)),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed before the file closes and the lock goes with it; only a
        // crash leaves the (unlocked, empty) file behind.
        let _ = std::fs::remove_file(&self.path);
    }
}
