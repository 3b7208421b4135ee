//! One error type for the crate; every message names the file, URL or model.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel { name: String, known: String },
    #[error(
        "model `{model}` is not in the cache ({path} is missing); run `mmsafe models pull {model}`"
    )]
    NotPulled { model: String, path: PathBuf },
    #[error("MMSAFE_OFFLINE is set: `{file}` of model `{model}` is missing at {path} and downloads are disabled (unset MMSAFE_OFFLINE, or `mmsafe models pull {model} --from <file or folder>`)")]
    Offline {
        model: String,
        file: String,
        path: PathBuf,
    },
    #[error("{url}: {message}")]
    Download { url: String, message: String },
    #[error("{path}: sha256 {actual} does not match the pinned {expected}{action}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
        /// What was done about it (e.g. "; the file was deleted").
        action: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Model { what: String, message: String },
    /// Training was asked to stop; its state is in the checkpoint.
    #[error("stopped after step {step} of {total}; the checkpoint {} resumes it", checkpoint.display())]
    Stopped {
        checkpoint: PathBuf,
        step: usize,
        total: usize,
    },
}

impl LocalError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LocalError {
        LocalError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn model(what: impl Into<String>, message: impl std::fmt::Display) -> LocalError {
        LocalError::Model {
            what: what.into(),
            message: message.to_string(),
        }
    }
    pub fn download(url: impl Into<String>, message: impl std::fmt::Display) -> LocalError {
        LocalError::Download {
            url: url.into(),
            message: message.to_string(),
        }
    }
}
