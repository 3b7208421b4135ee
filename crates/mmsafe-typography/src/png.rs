//! PNG encoding tuned for rendered text: 8-bit grey when the pixels allow it,
//! fast deflate (fdeflate) and the `Up` filter, which suits large flat areas
//! with horizontal strokes. Lossless: decoding gives back the same pixels.

use crate::Error;
use image::{GrayImage, RgbaImage};

fn encode(w: u32, h: u32, color: png::ColorType, data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(data.len() / 16 + 1024);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::Filter::Up);
    let mut writer = enc
        .write_header()
        .map_err(|e| Error::Encode(e.to_string()))?;
    writer
        .write_image_data(data)
        .map_err(|e| Error::Encode(e.to_string()))?;
    writer.finish().map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// 8-bit greyscale PNG.
pub fn encode_gray(img: &GrayImage) -> Result<Vec<u8>, Error> {
    encode(
        img.width(),
        img.height(),
        png::ColorType::Grayscale,
        img.as_raw(),
    )
}

/// The smallest lossless PNG colour type for these pixels: grey when every
/// pixel is opaque with r = g = b, RGB when opaque, else RGBA.
pub fn encode_rgba(img: &RgbaImage) -> Result<Vec<u8>, Error> {
    let raw = img.as_raw();
    let opaque = raw.chunks_exact(4).all(|p| p[3] == 255);
    if opaque && raw.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]) {
        let grey: Vec<u8> = raw.chunks_exact(4).map(|p| p[0]).collect();
        return encode(img.width(), img.height(), png::ColorType::Grayscale, &grey);
    }
    if opaque {
        let rgb: Vec<u8> = raw
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        return encode(img.width(), img.height(), png::ColorType::Rgb, &rgb);
    }
    encode(img.width(), img.height(), png::ColorType::Rgba, raw)
}

/// Encode keeping the alpha channel even when fully opaque (for attacks whose
/// point is the alpha channel).
pub fn encode_rgba_keep_alpha(img: &RgbaImage) -> Result<Vec<u8>, Error> {
    encode(
        img.width(),
        img.height(),
        png::ColorType::Rgba,
        img.as_raw(),
    )
}
