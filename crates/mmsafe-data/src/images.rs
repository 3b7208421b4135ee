//! Loading image files referenced by dataset rows.
//!
//! An image is read, its media type sniffed from the magic number, and then
//! fully decoded once so that a truncated or corrupt file is caught at load
//! time (with its file and row) rather than by the target at request time.

use mmsafe_core::{DataError, Image};
use std::path::{Component, Path, PathBuf};

/// Load and check the image at `path`; `loc` is the row that references it.
pub fn load(path: &Path, loc: &str) -> Result<Image, DataError> {
    let file = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| DataError::new(loc, format!("image `{file}`: cannot read: {e}")))?;
    let Some(media_type) = mmsafe_core::case::sniff_media_type(&bytes) else {
        return Err(DataError::new(
            loc,
            format!("image `{file}`: not a PNG, JPEG, GIF, WebP or BMP file"),
        ));
    };
    let format = match media_type {
        "image/png" => Some(image::ImageFormat::Png),
        "image/jpeg" => Some(image::ImageFormat::Jpeg),
        // Built with PNG and JPEG decoders only (lean); other formats are
        // accepted on their magic number alone.
        _ => None,
    };
    if let Some(format) = format {
        image::load_from_memory_with_format(&bytes, format)
            .map_err(|e| DataError::new(loc, format!("image `{file}`: cannot decode: {e}")))?;
    }
    Ok(Image::new(bytes, media_type))
}

/// Join a path found in a data file onto its base folder, refusing absolute
/// paths and `..` so a data file cannot point outside the folder it names.
pub fn resolve(base: &Path, rel: &str, loc: &str, field: &str) -> Result<PathBuf, DataError> {
    let rel_path = Path::new(rel.trim());
    let escapes = rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || rel.trim().is_empty() {
        return Err(DataError::new(
            loc,
            format!(
                "field `{field}`: image path `{rel}` must be relative and stay inside `{}`",
                base.display()
            ),
        ));
    }
    Ok(base.join(rel_path))
}
