//! Rasterizing layouts into coverage masks and compositing them onto images.
//!
//! Glyph coverage is combined with `max` into one mask and the mask is blended
//! once, as Pillow does, so overlapping glyphs never darken twice.

use crate::layout::{Layout, Rect};
use image::{GrayImage, Luma, Rgba, RgbaImage};

/// Text coverage (0 = none, 255 = full) positioned on an image.
#[derive(Debug, Clone)]
pub struct Mask {
    pub x: i32,
    pub y: i32,
    pub img: GrayImage,
}

impl Mask {
    /// Rasterize every line of `layout` (cached glyphs, whole-pixel positions).
    pub fn from_layout(layout: &Layout) -> Mask {
        let x0 = layout.lines.iter().map(|l| l.x).min().unwrap_or(0);
        let x1 = layout
            .lines
            .iter()
            .map(|l| l.x + l.width)
            .max()
            .unwrap_or(0);
        let y0 = layout.lines.first().map_or(0, |l| l.top);
        // Glyphs may overhang their advance box (italics, wide bold strokes).
        let pad = (layout.size / 4.0).ceil() as i32 + 2;
        let (mx, my) = (x0 - pad, y0 - pad);
        let w = (x1 - x0 + 2 * pad).max(1) as u32;
        let h = (layout.height() + 2 * pad).max(1) as u32;
        let mut img = GrayImage::new(w, h);
        let font = &layout.font;
        let cache = font.cache();
        for (i, line) in layout.lines.iter().enumerate() {
            let baseline = line.top + layout.ascent;
            let xs = layout.char_positions(i);
            for (c, &pen) in line.text.chars().zip(&xs) {
                let id = font.glyph(c);
                let Some(g) = cache.get(font, id, layout.size) else {
                    continue;
                };
                blit_max(
                    &mut img,
                    &g.coverage,
                    g.width,
                    g.height,
                    pen + g.left - mx,
                    baseline + g.top - my,
                );
            }
        }
        Mask { x: mx, y: my, img }
    }

    /// Rotate by `degrees` (counter-clockwise, as Pillow's `rotate`) about the
    /// mask's centre, expanding the bounds; bilinear sampling.
    pub fn rotate(&self, degrees: f32) -> Mask {
        if degrees.rem_euclid(360.0) == 0.0 {
            return self.clone();
        }
        let (w, h) = (self.img.width() as f32, self.img.height() as f32);
        let (s, c) = degrees.to_radians().sin_cos();
        let nw = (w * c.abs() + h * s.abs()).ceil();
        let nh = (w * s.abs() + h * c.abs()).ceil();
        let (cx, cy) = (w / 2.0, h / 2.0);
        let (ncx, ncy) = (nw / 2.0, nh / 2.0);
        let mut out = GrayImage::new(nw as u32, nh as u32);
        for oy in 0..nh as u32 {
            for ox in 0..nw as u32 {
                let dx = ox as f32 + 0.5 - ncx;
                let dy = oy as f32 + 0.5 - ncy;
                // Inverse of a counter-clockwise rotation on a y-down grid.
                let sx = c * dx - s * dy + cx - 0.5;
                let sy = s * dx + c * dy + cy - 0.5;
                let v = bilinear(&self.img, sx, sy);
                if v > 0 {
                    out.put_pixel(ox, oy, Luma([v]));
                }
            }
        }
        let centre_x = self.x as f32 + cx;
        let centre_y = self.y as f32 + cy;
        Mask {
            x: (centre_x - ncx).round() as i32,
            y: (centre_y - ncy).round() as i32,
            img: out,
        }
    }

    /// Zero coverage outside `rect`.
    pub fn clip_to(&mut self, rect: Rect) {
        let (x0, y0) = (rect.x - self.x, rect.y - self.y);
        let (x1, y1) = (x0 + rect.w as i32, y0 + rect.h as i32);
        for (x, y, p) in self.img.enumerate_pixels_mut() {
            let (x, y) = (x as i32, y as i32);
            if x < x0 || y < y0 || x >= x1 || y >= y1 {
                p.0[0] = 0;
            }
        }
    }

    /// Bounding box of the non-zero coverage in image coordinates, if any.
    pub fn ink_bounds(&self) -> Option<Rect> {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
        for (x, y, p) in self.img.enumerate_pixels() {
            if p.0[0] > 0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
        (x0 != u32::MAX).then(|| {
            Rect::new(
                self.x + x0 as i32,
                self.y + y0 as i32,
                x1 - x0 + 1,
                y1 - y0 + 1,
            )
        })
    }
}

fn bilinear(img: &GrayImage, x: f32, y: f32) -> u8 {
    let (w, h) = (img.width() as i32, img.height() as i32);
    let (x0, y0) = (x.floor() as i32, y.floor() as i32);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |xi: i32, yi: i32| -> f32 {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            0.0
        } else {
            img.get_pixel(xi as u32, yi as u32).0[0] as f32
        }
    };
    let top = px(x0, y0) * (1.0 - fx) + px(x0 + 1, y0) * fx;
    let bot = px(x0, y0 + 1) * (1.0 - fx) + px(x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8
}

fn blit_max(dst: &mut GrayImage, cov: &[u8], gw: u32, gh: u32, x: i32, y: i32) {
    let (dw, dh) = (dst.width() as i32, dst.height() as i32);
    let buf: &mut [u8] = dst;
    for gy in 0..gh as i32 {
        let ty = y + gy;
        if ty < 0 || ty >= dh {
            continue;
        }
        let gx0 = (-x).max(0);
        let gx1 = (dw - x).min(gw as i32);
        if gx0 >= gx1 {
            continue;
        }
        let src = &cov[(gy as u32 * gw) as usize..][gx0 as usize..gx1 as usize];
        let start = (ty * dw + x + gx0) as usize;
        let row = &mut buf[start..start + src.len()];
        for (d, &s) in row.iter_mut().zip(src) {
            if s > *d {
                *d = s;
            }
        }
    }
}

#[inline]
fn mix(dst: u8, src: u8, a: u32) -> u8 {
    // Rounded integer blend, exact at a = 0 and a = 255.
    ((dst as u32 * (255 - a) + src as u32 * a + 127) / 255) as u8
}

/// Blend `mask` onto a grey image in `luma`.
pub fn composite_gray(dst: &mut GrayImage, mask: &Mask, luma: u8) {
    let (dw, dh) = (dst.width() as i32, dst.height() as i32);
    let (mw, mh) = (mask.img.width() as i32, mask.img.height() as i32);
    // Row slices of the overlap, so the inner loop has no bounds arithmetic.
    let (x0, x1) = (mask.x.max(0), (mask.x + mw).min(dw));
    if x0 >= x1 {
        return;
    }
    let src: &[u8] = &mask.img;
    let buf: &mut [u8] = dst;
    for my in 0..mh {
        let y = mask.y + my;
        if y < 0 || y >= dh {
            continue;
        }
        let s = &src[(my * mw + x0 - mask.x) as usize..(my * mw + x1 - mask.x) as usize];
        let d = &mut buf[(y * dw + x0) as usize..(y * dw + x1) as usize];
        for (p, &a) in d.iter_mut().zip(s) {
            if a != 0 {
                *p = mix(*p, luma, a as u32);
            }
        }
    }
}

/// Blend `mask` onto an RGBA image with `color` (its alpha scales coverage),
/// Porter-Duff "over".
pub fn composite_rgba(dst: &mut RgbaImage, mask: &Mask, color: Rgba<u8>) {
    each_covered(dst.width(), dst.height(), mask, |x, y, cov| {
        let a = cov * color.0[3] as u32 / 255;
        if a == 0 {
            return;
        }
        let p = dst.get_pixel_mut(x, y);
        let da = p.0[3] as u32;
        if da == 255 {
            for k in 0..3 {
                p.0[k] = mix(p.0[k], color.0[k], a);
            }
            return;
        }
        // General "over" with a translucent destination.
        let out_a = a * 255 + da * (255 - a);
        if out_a == 0 {
            return;
        }
        for k in 0..3 {
            let v =
                (color.0[k] as u32 * a * 255 + p.0[k] as u32 * da * (255 - a) + out_a / 2) / out_a;
            p.0[k] = v.min(255) as u8;
        }
        p.0[3] = ((out_a + 127) / 255).min(255) as u8;
    });
}

fn each_covered(w: u32, h: u32, mask: &Mask, mut f: impl FnMut(u32, u32, u32)) {
    let (mw, mh) = (mask.img.width() as i32, mask.img.height() as i32);
    let buf: &[u8] = &mask.img;
    for my in 0..mh {
        let y = mask.y + my;
        if y < 0 || y >= h as i32 {
            continue;
        }
        let row = &buf[(my * mw) as usize..((my + 1) * mw) as usize];
        for (mx, &a) in row.iter().enumerate() {
            if a == 0 {
                continue;
            }
            let x = mask.x + mx as i32;
            if x >= 0 && x < w as i32 {
                f(x as u32, y as u32, a as u32);
            }
        }
    }
}

/// Parse a colour: `#rgb`, `#rrggbb`, `#rrggbbaa` or a basic name
/// (`white`, `black`, `red`, `green`, `blue`, `gray`/`grey`, `transparent`).
pub fn parse_color(s: &str) -> Result<Rgba<u8>, String> {
    let t = s.trim().to_ascii_lowercase();
    let named = match t.as_str() {
        "white" => Some([255, 255, 255, 255]),
        "black" => Some([0, 0, 0, 255]),
        "red" => Some([255, 0, 0, 255]),
        "green" => Some([0, 128, 0, 255]),
        "blue" => Some([0, 0, 255, 255]),
        "gray" | "grey" => Some([128, 128, 128, 255]),
        "transparent" => Some([0, 0, 0, 0]),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(Rgba(c));
    }
    let hex = t
        .strip_prefix('#')
        .ok_or_else(|| format!("colour `{s}` is not #rgb, #rrggbb, #rrggbbaa or a name"))?;
    let digits: Vec<u8> = hex
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| format!("colour `{s}` has a non-hex digit"))?;
    match digits.len() {
        3 => Ok(Rgba([digits[0] * 17, digits[1] * 17, digits[2] * 17, 255])),
        6 | 8 => {
            let mut c = [255u8; 4];
            for (i, pair) in digits.chunks(2).enumerate() {
                c[i] = pair[0] * 16 + pair[1];
            }
            Ok(Rgba(c))
        }
        _ => Err(format!("colour `{s}` must have 3, 6 or 8 hex digits")),
    }
}
