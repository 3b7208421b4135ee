//! The one place a dataset path is checked.
//!
//! Every path a loader builds from a data file (an image column, a JSON key,
//! a line index) goes through [`resolve`], which keeps it inside the folder
//! the dataset names; every failure to open one is described by
//! [`describe`], which tells a symlink loop from a missing file.

use mmsafe_core::DataError;
use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Join `rel`, taken from a data file (field `field` of row `loc`), onto
/// `base`, refusing absolute paths, `..` and empty paths so a data file
/// cannot point outside the folder it names.
///
/// The check is on the path as written: a symlink inside the dataset is
/// followed (downloaded datasets, such as the Hugging Face cache, are trees
/// of symlinks into a blob store).
pub fn resolve(base: &Path, rel: &str, loc: &str, field: &str) -> Result<PathBuf, DataError> {
    let rel_path = Path::new(rel.trim());
    let escapes = rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || rel.trim().is_empty() {
        return Err(DataError::new(
            loc,
            format!(
                "field `{field}`: path `{rel}` must be relative and stay inside `{}`",
                base.display()
            ),
        ));
    }
    Ok(base.join(rel_path))
}

/// `path` exists (following symlinks), or why it cannot be used.
pub fn exists(path: &Path) -> Result<(), String> {
    std::fs::metadata(path)
        .map(drop)
        .map_err(|e| describe(path, &e))
}

/// Why opening `path` failed, in words: "symlink loop", "no such file or
/// folder", or the system's message.
pub fn describe(path: &Path, e: &io::Error) -> String {
    if symlink_loop(path) {
        return "symlink loop (the link leads back to itself)".to_string();
    }
    if e.kind() == io::ErrorKind::NotFound {
        return "no such file or folder".to_string();
    }
    e.to_string()
}

/// Whether following `path`'s chain of symlinks comes back to a link
/// already seen (or never ends).
fn symlink_loop(path: &Path) -> bool {
    let mut cur = path.to_path_buf();
    let mut seen = HashSet::new();
    for _ in 0..64 {
        let Ok(meta) = std::fs::symlink_metadata(&cur) else {
            return false;
        };
        if !meta.file_type().is_symlink() {
            return false;
        }
        if !seen.insert(cur.clone()) {
            return true;
        }
        let Ok(target) = std::fs::read_link(&cur) else {
            return false;
        };
        cur = match cur.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_only() {
        let base = Path::new("/data/set");
        assert_eq!(
            resolve(base, "imgs/a.png", "f:1", "image").unwrap(),
            base.join("imgs/a.png")
        );
        for bad in ["../x.png", "/etc/passwd", "a/../../b", "", "  "] {
            let e = resolve(base, bad, "f:1", "image").unwrap_err().to_string();
            assert!(e.contains("must be relative"), "{bad}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn loops_and_missing_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(exists(&a).unwrap_err().contains("symlink loop"));
        let missing = dir.path().join("missing");
        assert_eq!(exists(&missing).unwrap_err(), "no such file or folder");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();
        assert_eq!(exists(&dangling).unwrap_err(), "no such file or folder");
    }
}
