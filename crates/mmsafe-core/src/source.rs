//! `Source`: where cases come from (dataset files, built-in suites).

use crate::case::Case;

/// A problem with input data. Its message names the file, line (or row) and
/// field, e.g. `safebench.csv:17: column \`instruction\` is missing`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct DataError {
    /// `file`, `file:line` or `file:line: field`.
    pub location: String,
    pub message: String,
}

impl DataError {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> DataError {
        DataError {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A stream of cases. Loaders yield per-row results so that one bad row is
/// reported with its location instead of aborting silently; iteration is lazy
/// so memory does not grow with the suite size.
pub trait Source: Send {
    /// The suite spec it was built from, e.g. `figstep:data/safebench.csv`.
    fn name(&self) -> &str;
    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_>;
    /// Number of cases when known without reading everything (for plans and ETAs).
    fn len_hint(&self) -> Option<usize> {
        None
    }
}
