//! Options every loader honours, and the log of rows skipped under `--skip-broken`.

use mmsafe_core::DataError;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Skip rows whose image is missing or fails to decode (each one is recorded
    /// in `skipped`), instead of yielding an error for the row.
    pub skip_broken: bool,
    /// Where skipped rows are reported; shared so the caller can read it after
    /// (or while) the source is iterated.
    pub skipped: SkipLog,
}

/// Rows skipped because of a broken image, with the reason and location.
///
/// A `Source` yields only cases, so skips travel out-of-band through this
/// shared log; every skip is also logged with `tracing::warn!`.
#[derive(Debug, Clone, Default)]
pub struct SkipLog(Arc<Mutex<Vec<DataError>>>);

impl SkipLog {
    pub fn push(&self, err: DataError) {
        tracing::warn!("skipped row: {err}");
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(err);
    }

    /// Everything recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<DataError> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
