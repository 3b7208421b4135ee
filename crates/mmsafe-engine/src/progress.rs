//! Progress counters the engine reports after every attempt.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a scan's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Attempts finished in this invocation (recorded, including errors).
    pub done: u64,
    /// Attempts skipped because an earlier invocation already recorded them.
    pub skipped: u64,
    /// Planned attempts when every source knows its length and every attack
    /// its cases per input ([`mmsafe_core::Attack::cases_per_input`]).
    pub total: Option<u64>,
    /// Attempts whose target call failed.
    pub errors: u64,
    /// Prompt + completion tokens reported by the target.
    pub tokens: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub done: AtomicU64,
    pub skipped: AtomicU64,
    pub errors: AtomicU64,
    pub tokens: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self, total: Option<u64>) -> Progress {
        Progress {
            done: self.done.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            total,
            errors: self.errors.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
        }
    }
}
