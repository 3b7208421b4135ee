//! Parameters and decisions several loaders share.

use crate::loader::Input;
use mmsafe_core::{DataError, Hazard, ParamSpec};
use std::path::{Path, PathBuf};

pub const IMAGES: ParamSpec = ParamSpec::new(
    "images",
    "",
    "folder the data file's image paths are relative to (default: the dataset's usual layout)",
);
pub const TEXT_ONLY: ParamSpec = ParamSpec::new(
    "text_only",
    "false",
    "drop images and send the text alone (the benchmark then loses its visual half)",
);

/// The folder images are read from, or `None` under `text_only=true`.
///
/// An explicit `images=` must exist. Otherwise the first of `defaults` that
/// exists is used; when none does, the first one is still returned so each
/// row's error names the image file it expected.
pub fn images_dir(input: &Input<'_>, defaults: &[PathBuf]) -> Result<Option<PathBuf>, DataError> {
    if input
        .params
        .bool("text_only")
        .map_err(|e| param_error(input, e))?
    {
        return Ok(None);
    }
    let given = input.params.str("images");
    if !given.is_empty() {
        let p = PathBuf::from(given);
        if !p.is_dir() {
            return Err(DataError::new(
                format!("suite `{}`", input.spec),
                format!("images folder `{given}` does not exist"),
            ));
        }
        return Ok(Some(p));
    }
    Ok(defaults
        .iter()
        .find(|d| d.is_dir())
        .or(defaults.first())
        .cloned())
}

/// The `hazard=` parameter: the hazard of rows the dataset leaves unlabelled.
pub fn hazard_param(input: &Input<'_>) -> Result<Hazard, DataError> {
    input
        .params
        .get::<Hazard>("hazard")
        .map_err(|e| param_error(input, e))
}

pub fn param_error(input: &Input<'_>, e: impl std::fmt::Display) -> DataError {
    DataError::new(format!("suite `{}`", input.spec), e.to_string())
}

/// The folder a data file sits in.
pub fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Look up a label in a mapping table, case- and space-insensitively.
pub fn lookup<T: Copy>(table: &[(&str, T)], label: &str) -> Option<T> {
    let norm = |s: &str| {
        s.trim()
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let label = norm(label);
    table
        .iter()
        .find(|(k, _)| norm(k) == label)
        .map(|(_, v)| *v)
}
