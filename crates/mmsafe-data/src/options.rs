//! Options every loader honours, and the log of rows skipped under `--skip-broken`.

use mmsafe_core::{Case, DataError, Source};
use std::sync::{Arc, Mutex, MutexGuard};

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
/// shared log. The log holds every skip; stderr gets one summary line per
/// source and pass (count and first location), not one line per row.
#[derive(Debug, Clone, Default)]
pub struct SkipLog {
    entries: Arc<Mutex<Vec<DataError>>>,
    /// Present on the per-source handle `registry::open` gives a loader.
    tally: Option<Arc<Mutex<Tally>>>,
}

#[derive(Debug, Default)]
struct Tally {
    count: usize,
    first: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SkipLog {
    pub fn push(&self, err: DataError) {
        if let Some(t) = &self.tally {
            let mut t = lock(t);
            t.count += 1;
            if t.first.is_none() {
                t.first = Some(err.location.clone());
            }
        }
        lock(&self.entries).push(err);
    }

    /// Everything recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<DataError> {
        std::mem::take(&mut *lock(&self.entries))
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A handle writing to the same log that also counts its own skips.
    fn scoped(&self) -> SkipLog {
        SkipLog {
            entries: self.entries.clone(),
            tally: Some(Arc::default()),
        }
    }
}

impl LoadOptions {
    /// Options for one source: skips go to the same log and are counted for
    /// that source's summary line.
    pub(crate) fn scoped(&self) -> LoadOptions {
        LoadOptions {
            skip_broken: self.skip_broken,
            skipped: self.skipped.scoped(),
        }
    }
}

/// Wraps a source built with [`LoadOptions::scoped`] options and logs one
/// warning per pass over it when rows were skipped.
pub(crate) struct Summarized {
    pub inner: Box<dyn Source>,
    pub skipped: SkipLog,
}

impl Source for Summarized {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_> {
        let tally = self.skipped.tally.clone().unwrap_or_default();
        *lock(&tally) = Tally::default();
        let name = self.inner.name().to_string();
        Box::new(Pass {
            inner: self.inner.cases(),
            name,
            tally,
        })
    }

    fn len_hint(&self) -> Option<usize> {
        self.inner.len_hint()
    }
}

struct Pass<'a> {
    inner: Box<dyn Iterator<Item = Result<Case, DataError>> + Send + 'a>,
    name: String,
    tally: Arc<Mutex<Tally>>,
}

impl Iterator for Pass<'_> {
    type Item = Result<Case, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// On drop, so a pass cut short (`datasets show --limit`) is summarized too.
impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let t = lock(&self.tally);
        if t.count > 0 {
            tracing::warn!(
                "{}: skipped {} row(s) with a broken image (first at {}); see the skipped list",
                self.name,
                t.count,
                t.first.as_deref().unwrap_or("?")
            );
        }
    }
}
