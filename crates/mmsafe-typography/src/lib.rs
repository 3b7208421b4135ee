//! Text-to-image typography engine shared by every image attack and rendered suite.
//!
//! * [`Font`]: bundled DejaVu faces, font files by path, system fonts by family
//!   name; a missing font is an error, and [`Font::source`] says which file was used.
//! * [`wrap`]: Python-`textwrap`-exact character wrapping, pixel-width wrapping.
//! * [`layout`]: Pillow-compatible line placement, alignment, and the overflow
//!   policy (`shrink | paginate | clip | error`).
//! * [`render`]: glyph-cached rasterization to coverage masks, rotation, and
//!   compositing onto `GrayImage`/`RgbaImage`.
//! * [`png`]: fast lossless PNG encoding (8-bit grey where possible).
//!
//! Rendering is deterministic: the same text, font file and options give the
//! same pixels and the same PNG bytes.

pub mod font;
pub mod layout;
pub mod png;
mod raster;
pub mod render;
pub mod wrap;

pub use font::{Font, FontSource, BUNDLED};
pub use image::{GrayImage, Luma, Rgba, RgbaImage};
pub use layout::{fit, wrap_text, Align, Fit, Layout, Line, Overflow, Rect, TextStyle, Wrap};
pub use render::{composite_gray, composite_rgba, parse_color, Mask};
pub use wrap::{fill_chars, wrap_chars, wrap_pixels, wrap_pixels_continuation};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("font `{spec}` not found: {detail}")]
    FontNotFound { spec: String, detail: String },
    #[error("font `{source_name}` could not be parsed: {detail}")]
    BadFont { source_name: String, detail: String },
    #[error("text does not fit: {0}")]
    Overflow(String),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// Render `text` on a `width`×`height` canvas of `background` in `color`:
/// wrap and place it per `fit`, rotate by `rotation` degrees (counter-clockwise,
/// about the text's centre), one image per page.
#[allow(clippy::too_many_arguments)]
pub fn render_text(
    width: u32,
    height: u32,
    background: Rgba<u8>,
    color: Rgba<u8>,
    text: &str,
    style: &TextStyle,
    fit_opts: &Fit,
    rotation: f32,
) -> Result<Vec<RgbaImage>, Error> {
    let pages = fit(text, style, fit_opts)?;
    Ok(pages
        .iter()
        .map(|layout| {
            let mut img = RgbaImage::from_pixel(width, height, background);
            draw_layout(
                &mut img,
                layout,
                color,
                rotation,
                fit_opts.overflow == Overflow::Clip,
                fit_opts.rect,
            );
            img
        })
        .collect())
}

/// Draw a placed layout onto an existing image (a carrier photo, a page).
/// With `clip`, coverage outside `rect` is dropped.
pub fn draw_layout(
    img: &mut RgbaImage,
    layout: &Layout,
    color: Rgba<u8>,
    rotation: f32,
    clip: bool,
    rect: Rect,
) {
    let mut mask = Mask::from_layout(layout);
    if clip {
        mask.clip_to(rect);
    }
    let mask = mask.rotate(rotation);
    composite_rgba(img, &mask, color);
}

/// Grey fast path: draw `layout` in `luma` onto a grey image (no rotation).
pub fn draw_layout_gray(img: &mut GrayImage, layout: &Layout, luma: u8) {
    composite_gray(img, &Mask::from_layout(layout), luma);
}
