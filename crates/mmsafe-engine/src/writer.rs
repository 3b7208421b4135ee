//! The single store writer: a thread that owns the [`Store`] and commits what
//! the attempt tasks send it in batches.
//!
//! Batching is opportunistic: block for the first message, then take whatever
//! else is already queued (up to [`MAX_BATCH`]) and commit it in one
//! transaction. Under load that gives large batches (few commits); when idle
//! every attempt is committed as soon as it arrives, so a SIGKILL loses at most
//! the attempts still in flight.

use mmsafe_store::{NewAttempt, NewCase, RunStore, StoreError};
use std::thread::JoinHandle;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 512;

pub(crate) enum Msg {
    /// A case to record before any attempt that refers to it (same channel, so
    /// ordering guarantees the case is committed no later than its attempts).
    Case(NewCase),
    Attempt(Box<NewAttempt>),
}

/// Join handle of the writer thread; finishing it waits for every queued
/// message to be committed, once all senders are dropped.
pub(crate) struct Writer<S> {
    handle: JoinHandle<(S, Result<(), StoreError>)>,
}

impl<S: RunStore + 'static> Writer<S> {
    pub fn start(
        mut store: S,
        run_id: String,
        capacity: usize,
        replace_errors: bool,
    ) -> std::io::Result<(mpsc::Sender<Msg>, Writer<S>)> {
        let (tx, mut rx) = mpsc::channel::<Msg>(capacity.max(16));
        let handle = std::thread::Builder::new()
            .name("mmsafe-store-writer".into())
            .spawn(move || {
                let mut cases = Vec::new();
                let mut attempts = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    push(first, &mut cases, &mut attempts);
                    while cases.len() + attempts.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => push(m, &mut cases, &mut attempts),
                            Err(_) => break,
                        }
                    }
                    // `--retry-errors`: a retried attempt's outcome goes over
                    // its error row instead of being ignored as a duplicate.
                    let written = if replace_errors {
                        store.put_batch_replacing_errors(&run_id, &cases, &attempts)
                    } else {
                        store.put_batch(&run_id, &cases, &attempts)
                    };
                    if let Err(e) = written {
                        // Closing the receiver makes every sender fail, which
                        // stops the scan; the error is reported from join().
                        rx.close();
                        return (store, Err(e));
                    }
                    cases.clear();
                    attempts.clear();
                }
                (store, Ok(()))
            })?;
        Ok((tx, Writer { handle }))
    }

    /// Wait for everything sent to be committed (all senders must be dropped
    /// first). Gives the store back unless the writer thread panicked.
    pub fn finish(self) -> (Option<S>, Result<(), StoreError>) {
        match self.handle.join() {
            Ok((store, r)) => (Some(store), r),
            Err(_) => (
                None,
                Err(StoreError::Corrupt {
                    path: String::new(),
                    what: "store writer thread panicked".into(),
                }),
            ),
        }
    }
}

fn push(m: Msg, cases: &mut Vec<NewCase>, attempts: &mut Vec<NewAttempt>) {
    match m {
        Msg::Case(c) => cases.push(c),
        Msg::Attempt(a) => attempts.push(*a),
    }
}
