//! Glyph rasterization with a per-font cache: each (glyph, size) is rasterized
//! once into a coverage bitmap and then only blitted. Glyphs sit at whole-pixel
//! pen positions (as a hinted FreeType renderer places them), which is what
//! makes the cache exact rather than approximate.

use crate::font::Font;
use ab_glyph::{point, Font as _, GlyphId, PxScale};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Coverage of one glyph: `left`/`top` are offsets of the bitmap's top-left
/// corner from the pen position on the baseline (top is negative above it).
#[derive(Debug)]
pub struct GlyphMask {
    pub left: i32,
    pub top: i32,
    pub width: u32,
    pub height: u32,
    pub coverage: Vec<u8>,
}

type Key = (u16, u32);

#[derive(Default)]
pub struct GlyphCache {
    map: RwLock<HashMap<Key, Option<Arc<GlyphMask>>>>,
}

impl GlyphCache {
    /// The rasterized glyph, `None` for glyphs without an outline (space).
    pub fn get(&self, font: &Font, id: GlyphId, size: f32) -> Option<Arc<GlyphMask>> {
        let key = (id.0, size.to_bits());
        if let Ok(map) = self.map.read() {
            if let Some(hit) = map.get(&key) {
                return hit.clone();
            }
        }
        let mask = rasterize(font, id, size).map(Arc::new);
        if let Ok(mut map) = self.map.write() {
            map.insert(key, mask.clone());
        }
        mask
    }
}

fn rasterize(font: &Font, id: GlyphId, size: f32) -> Option<GlyphMask> {
    let ab = font.ab();
    // ab_glyph scales so that ascent - descent spans the PxScale; FreeType
    // (and Pillow) scale so that one em spans `size` pixels.
    let px = size * ab.height_unscaled() / ab.units_per_em().unwrap_or(1000.0);
    let glyph = id.with_scale_and_position(PxScale::from(px), point(0.0, 0.0));
    let outlined = ab.outline_glyph(glyph)?;
    let b = outlined.px_bounds();
    let width = b.width() as u32;
    let height = b.height() as u32;
    if width == 0 || height == 0 {
        return None;
    }
    let mut coverage = vec![0u8; (width * height) as usize];
    outlined.draw(|x, y, c| {
        if x < width && y < height {
            coverage[(y * width + x) as usize] = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    });
    Some(GlyphMask {
        left: b.min.x as i32,
        top: b.min.y as i32,
        width,
        height,
        coverage,
    })
}
