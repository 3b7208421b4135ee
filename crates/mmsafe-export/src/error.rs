use mmsafe_store::StoreError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no runs given (pass --run RUN at least once)")]
    NoRuns,
    #[error("run {run} has no verdicts from judge `{judge}` (judges: {known})")]
    JudgeNotInRun {
        run: String,
        judge: String,
        known: String,
    },
    #[error("refusal templates {path}: {message}")]
    Templates { path: String, message: String },
    #[error("the selected examples contain images; --format {format} writes them to a folder: pass --images DIR")]
    ImagesDirRequired { format: &'static str },
    #[error("--images is not used with --format openai (images are inlined as data URLs); drop it or pick --format llava|sharegpt")]
    ImagesDirUnused,
    #[error(
        "the skipped report and the output are the same file {path}; pick another --skipped FILE"
    )]
    SamePath { path: PathBuf },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {message}")]
    Encode { what: String, message: String },
}

impl ExportError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> ExportError {
        ExportError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
