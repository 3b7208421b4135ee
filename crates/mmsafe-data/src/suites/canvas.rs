//! A small drawing surface for the built-in suites' synthetic documents:
//! filled boxes, outlines and wrapped text, encoded as PNG.
//!
//! Text goes through the shared typography engine with bundled DejaVu faces,
//! so the same seed gives the same PNG bytes on every machine.

use mmsafe_core::Image;
use mmsafe_typography::{
    self as typo, Fit, Font, Overflow, Rect, Rgba, RgbaImage, TextStyle, Wrap,
};

#[derive(Debug, thiserror::Error)]
#[error("rendering a synthetic document: {0}")]
pub struct RenderError(#[from] typo::Error);

#[derive(Clone)]
pub struct Fonts {
    pub regular: Font,
    pub bold: Font,
    pub mono: Font,
}

impl Fonts {
    pub fn bundled() -> Result<Fonts, RenderError> {
        Ok(Fonts {
            regular: Font::bundled("dejavu-sans")?,
            bold: Font::bundled("dejavu-sans-bold")?,
            mono: Font::bundled("dejavu-sans-mono")?,
        })
    }
}

pub const BLACK: Rgba<u8> = Rgba([20, 20, 24, 255]);
pub const GREY: Rgba<u8> = Rgba([110, 110, 118, 255]);
pub const WHITE: Rgba<u8> = Rgba([255, 255, 255, 255]);

pub struct Canvas {
    img: RgbaImage,
    fonts: Fonts,
}

#[derive(Clone, Copy)]
pub enum Face {
    Regular,
    Bold,
    Mono,
}

impl Canvas {
    pub fn new(w: u32, h: u32, background: Rgba<u8>, fonts: &Fonts) -> Canvas {
        Canvas {
            img: RgbaImage::from_pixel(w, h, background),
            fonts: fonts.clone(),
        }
    }

    pub fn fill(&mut self, r: Rect, color: Rgba<u8>) {
        let (w, h) = self.img.dimensions();
        let x0 = r.x.max(0) as u32;
        let y0 = r.y.max(0) as u32;
        for y in y0..(r.y.max(0) as u32 + r.h).min(h) {
            for x in x0..(r.x.max(0) as u32 + r.w).min(w) {
                self.img.put_pixel(x, y, color);
            }
        }
    }

    pub fn outline(&mut self, r: Rect, color: Rgba<u8>) {
        self.fill(Rect::new(r.x, r.y, r.w, 1), color);
        self.fill(Rect::new(r.x, r.y + r.h as i32 - 1, r.w, 1), color);
        self.fill(Rect::new(r.x, r.y, 1, r.h), color);
        self.fill(Rect::new(r.x + r.w as i32 - 1, r.y, 1, r.h), color);
    }

    fn style(&self, face: Face, size: f32) -> TextStyle {
        let font = match face {
            Face::Regular => &self.fonts.regular,
            Face::Bold => &self.fonts.bold,
            Face::Mono => &self.fonts.mono,
        };
        TextStyle::new(font.clone(), size)
    }

    /// Lines `text` wraps to in a box `width` pixels wide.
    pub fn line_count(&self, face: Face, size: f32, width: u32, text: &str) -> usize {
        typo::wrap_text(text, &self.style(face, size), Wrap::Pixels, width).len()
    }

    /// Wrapped text in a box, shrunk (down to 9 px) when it does not fit.
    pub fn text(
        &mut self,
        r: Rect,
        size: f32,
        face: Face,
        color: Rgba<u8>,
        text: &str,
    ) -> Result<(), RenderError> {
        self.draw(r, size, face, color, text, Wrap::Pixels)
    }

    /// One line as written (spaces kept, for columns), cut at the box edge.
    pub fn line(
        &mut self,
        r: Rect,
        size: f32,
        face: Face,
        color: Rgba<u8>,
        text: &str,
    ) -> Result<(), RenderError> {
        self.draw(r, size, face, color, text, Wrap::None)
    }

    fn draw(
        &mut self,
        r: Rect,
        size: f32,
        face: Face,
        color: Rgba<u8>,
        text: &str,
        wrap: Wrap,
    ) -> Result<(), RenderError> {
        let style = self.style(face, size);
        let fit = Fit {
            rect: r,
            wrap,
            overflow: if wrap == Wrap::None {
                Overflow::Clip
            } else {
                Overflow::Shrink
            },
            min_size: 9.0,
        };
        let clip = fit.overflow == Overflow::Clip;
        for layout in typo::fit(text, &style, &fit)? {
            typo::draw_layout(&mut self.img, &layout, color, 0.0, clip, r);
        }
        Ok(())
    }

    /// `label` in small grey over `value` in larger black: a form field.
    pub fn field(
        &mut self,
        x: i32,
        y: i32,
        w: u32,
        label: &str,
        value: &str,
    ) -> Result<(), RenderError> {
        self.text(Rect::new(x, y, w, 16), 12.0, Face::Regular, GREY, label)?;
        self.text(Rect::new(x, y + 16, w, 22), 17.0, Face::Bold, BLACK, value)
    }

    pub fn png(self) -> Result<Image, RenderError> {
        Ok(Image::png(typo::png::encode_rgba(&self.img)?))
    }
}

/// Deterministic choices from a seed and a label path (no RNG state to thread).
#[derive(Clone, Copy)]
pub struct Dice {
    pub seed: u64,
}

impl Dice {
    pub fn roll(&self, labels: &[&str]) -> u64 {
        mmsafe_core::seed::derive(self.seed, labels)
    }

    /// An index in `0..len`.
    pub fn index(&self, len: usize, labels: &[&str]) -> usize {
        (self.roll(labels) % len.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&self, items: &'a [T], labels: &[&str]) -> &'a T {
        &items[(self.roll(labels) % items.len() as u64) as usize]
    }

    /// A number in `lo..=hi`.
    pub fn range(&self, lo: u64, hi: u64, labels: &[&str]) -> u64 {
        lo + self.roll(labels) % (hi - lo + 1)
    }
}
