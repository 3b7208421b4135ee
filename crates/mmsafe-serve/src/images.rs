//! Every image of a request is checked before any layer or the upstream sees
//! it: headers first (declared size per image and per request, compressed
//! metadata), then a full, bounded decode, so an image that passes is one
//! every layer can read. All of it runs on a blocking thread, never on the
//! async workers that answer `/healthz` and other clients.

use crate::config::Limits;
use crate::dims;
use crate::error::ApiError;
use image::ImageReader;
use mmsafe_core::Image;
use std::io::Cursor;

/// Most bytes the compressed metadata of one image (PNG `iCCP`, `zTXt`,
/// `iTXt`) may inflate to. Real ICC profiles are a few KiB to about 1 MiB; a
/// 1×1 PNG whose profile inflates to 512 MiB is a bomb.
pub const MAX_METADATA_BYTES: u64 = 8 << 20;

/// An image and where the request put it (`messages[i].content[j]`).
pub struct Located {
    pub at: String,
    pub image: Image,
}

/// [`check`] on a blocking thread.
pub async fn check_off_runtime(images: Vec<Located>, limits: Limits) -> Result<(), ApiError> {
    tokio::task::spawn_blocking(move || check(&images, &limits))
        .await
        .map_err(|e| ApiError::internal(format!("image check: {e}")))?
}

/// Headers of all images (cheap), then a decode of each (bounded). Blocking.
pub fn check(images: &[Located], limits: &Limits) -> Result<(), ApiError> {
    let mut sizes = Vec::with_capacity(images.len());
    let mut total = 0u64;
    for l in images {
        let bytes = l.image.bytes();
        let metadata = dims::compressed_metadata(bytes, MAX_METADATA_BYTES);
        if metadata > MAX_METADATA_BYTES {
            return Err(ApiError::too_large(format!(
                "{}: image metadata (ICC profile or compressed text) inflates to more than {MAX_METADATA_BYTES} bytes",
                l.at
            )));
        }
        let (w, h) = dims::dimensions(bytes, MAX_METADATA_BYTES)
            .map_err(|e| ApiError::bad_request(format!("{}: {e}", l.at)))?;
        let pixels = w as u64 * h as u64;
        if pixels > limits.max_image_pixels {
            return Err(ApiError::too_large(format!(
                "{}: image is {w}×{h} = {pixels} pixels, over the limit of {}",
                l.at, limits.max_image_pixels
            )));
        }
        total += pixels;
        if total > limits.max_request_pixels {
            return Err(ApiError::too_large(format!(
                "{}: the images of this request declare {total} pixels or more, over the per-request budget of {}",
                l.at, limits.max_request_pixels
            )));
        }
        sizes.push((w, h));
    }
    for (l, (w, h)) in images.iter().zip(sizes) {
        decode(&l.image, w, h).map_err(|e| {
            ApiError::bad_request(format!(
                "{}: the {} image cannot be decoded ({e}); no guard layer could read it",
                l.at,
                l.image.media_type()
            ))
        })?;
    }
    Ok(())
}

/// Decode the pixels within what the header declared, then drop them: the
/// layers decode again, but now a decode is known to succeed and to fit.
fn decode(img: &Image, w: u32, h: u32) -> Result<(), String> {
    let mut reader = ImageReader::new(Cursor::new(img.bytes()))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w.max(1));
    limits.max_image_height = Some(h.max(1));
    // Eight bytes a pixel covers 16-bit RGBA, the widest layout decoded.
    limits.max_alloc = Some(w as u64 * h as u64 * 8 + MAX_METADATA_BYTES);
    reader.limits(limits);
    reader.decode().map(drop).map_err(|e| e.to_string())
}
