use std::path::PathBuf;

/// Errors name the file, tensor or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum AdvError {
    #[error("surrogate {dir}: missing file `{file}`")]
    MissingFile { dir: PathBuf, file: String },
    #[error("surrogate {path}: {message}")]
    BadConfig { path: PathBuf, message: String },
    #[error("surrogate {path}: tensor `{name}` {message}")]
    BadWeights {
        path: PathBuf,
        name: String,
        message: String,
    },
    #[error("image {path}: {message}")]
    Image { path: String, message: String },
    #[error("invalid value: {0}")]
    InvalidValue(String),
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("compute: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, AdvError>;
