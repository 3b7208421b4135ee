//! Loading image files referenced by dataset rows.
//!
//! An image is read, its media type sniffed from the magic number, and then
//! fully decoded once so that a truncated or corrupt file is caught at load
//! time (with its file and row) rather than by the target at request time.

use mmsafe_core::{DataError, Image};
use std::path::Path;

/// Paths from data files are joined by [`crate::paths::resolve`], the one
/// checked function; re-exported here for the loaders that call it so.
pub use crate::paths::resolve;

/// Load and check the image at `path`; `loc` is the row that references it.
pub fn load(path: &Path, loc: &str) -> Result<Image, DataError> {
    let file = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        DataError::new(
            loc,
            format!(
                "image `{file}`: cannot read: {}",
                crate::paths::describe(path, &e)
            ),
        )
    })?;
    from_bytes(bytes, &format!("image `{file}`"), loc)
}

/// Check encoded image bytes the row carries itself (a dataset that embeds
/// its images); `what` names them in errors (`image `a.png``, a column).
pub fn from_bytes(bytes: Vec<u8>, what: &str, loc: &str) -> Result<Image, DataError> {
    let Some(media_type) = mmsafe_core::case::sniff_media_type(&bytes) else {
        return Err(DataError::new(
            loc,
            format!("{what}: not a PNG, JPEG, GIF, WebP or BMP file"),
        ));
    };
    let format = match media_type {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/gif" => image::ImageFormat::Gif,
        "image/webp" => image::ImageFormat::WebP,
        _ => image::ImageFormat::Bmp,
    };
    image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| DataError::new(loc, format!("{what}: cannot decode: {e}")))?;
    Ok(Image::new(bytes, media_type))
}
