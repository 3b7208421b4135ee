//! SHA-256 checks of dataset files against the hashes their SOURCE.md lists.
//!
//! A mismatch is a warning, not an error: it usually means another upstream
//! version of the same file, which still loads; `datasets validate` prints it
//! so that results can be traced to exact bytes.

use crate::loader::{KnownFile, Loader};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct HashCheck {
    pub file: PathBuf,
    pub known: KnownFile,
    /// `Err` when the file could not be read.
    pub actual: Result<String, String>,
}

impl HashCheck {
    pub fn matches(&self) -> bool {
        self.actual.as_deref() == Ok(self.known.sha256)
    }
}

/// Hash the known files a spec's path refers to: the file itself when it is
/// one of the loader's known files, or every known file present under a folder.
pub fn check(loader: &Loader, path: &Path) -> Vec<HashCheck> {
    let candidates: Vec<(PathBuf, KnownFile)> = if path.is_dir() {
        loader
            .known_files
            .iter()
            .filter_map(|k| {
                // The folder may be the dataset root or the sub-folder the
                // known path starts with (e.g. `processed_questions/`).
                let direct = path.join(k.path);
                let first = Path::new(k.path).components().next()?;
                let via_parent = path
                    .parent()
                    .filter(|_| path.file_name() == Some(first.as_os_str()))
                    .map(|p| p.join(k.path));
                [Some(direct), via_parent]
                    .into_iter()
                    .flatten()
                    .find(|p| p.is_file())
                    .map(|p| (p, *k))
            })
            .collect()
    } else {
        loader
            .known_files
            .iter()
            .filter(|k| path.ends_with(k.path))
            .map(|k| (path.to_path_buf(), *k))
            .take(1)
            .collect()
    };
    candidates
        .into_iter()
        .map(|(file, known)| HashCheck {
            actual: sha256_file(&file).map_err(|e| e.to_string()),
            file,
            known,
        })
        .collect()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
