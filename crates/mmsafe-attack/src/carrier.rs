//! Carrier images for injection attacks: a user file, the case's own image, or
//! a generated background (seeded noise, gradient, shapes, blank).

use crate::common::{decode_image, err, last_user_images, load_image_file, rng};
use image::imageops::FilterType;
use mmsafe_core::{AttackError, Case};
use mmsafe_typography::{Rgba, RgbaImage};
use rand::Rng;

pub const CARRIER_HELP: &str =
    "auto (the case's image, else gradient), case, noise, gradient, shapes, blank, or an image file path";

/// The carrier and a description of where it came from (for provenance).
pub fn carrier(
    attack: &str,
    spec: &str,
    case: &Case,
    seed: u64,
    width: u32,
    height: u32,
) -> Result<(RgbaImage, String), AttackError> {
    let from_case = || last_user_images(case).into_iter().next();
    match spec {
        "auto" => match from_case() {
            Some(img) => Ok((
                decode_image(attack, &img)?,
                format!("case:{}", img.sha256()),
            )),
            None => Ok((gradient(width, height, seed), "gradient".to_string())),
        },
        "case" => {
            let img = from_case().ok_or_else(|| {
                err(
                    attack,
                    format!("carrier=case but case `{}` has no image", case.id),
                )
            })?;
            Ok((
                decode_image(attack, &img)?,
                format!("case:{}", img.sha256()),
            ))
        }
        "noise" => Ok((noise(width, height, seed), "noise".to_string())),
        "gradient" => Ok((gradient(width, height, seed), "gradient".to_string())),
        "shapes" => Ok((shapes(width, height, seed), "shapes".to_string())),
        "blank" | "white" => Ok((
            RgbaImage::from_pixel(width, height, Rgba([255, 255, 255, 255])),
            "blank".to_string(),
        )),
        path => Ok((load_image_file(attack, path)?, format!("file:{path}"))),
    }
}

/// Scale an image to `width` keeping its aspect ratio (carriers of any size
/// get text at a predictable scale).
pub fn fit_width(img: &RgbaImage, width: u32) -> RgbaImage {
    if img.width() == width || img.width() == 0 {
        return img.clone();
    }
    let h = ((img.height() as u64 * width as u64) / img.width() as u64).max(1) as u32;
    image::imageops::resize(img, width, h, FilterType::Triangle)
}

/// Mid-grey uniform noise, muted so text on it stays legible.
pub fn noise(w: u32, h: u32, seed: u64) -> RgbaImage {
    let mut r = rng(seed);
    RgbaImage::from_fn(w, h, |_, _| {
        Rgba([
            r.random_range(96..224),
            r.random_range(96..224),
            r.random_range(96..224),
            255,
        ])
    })
}

/// A diagonal two-colour gradient with seeded end colours.
pub fn gradient(w: u32, h: u32, seed: u64) -> RgbaImage {
    let mut r = rng(seed);
    let a: [f32; 3] = [
        r.random_range(120.0..255.0),
        r.random_range(120.0..255.0),
        r.random_range(120.0..255.0),
    ];
    let b: [f32; 3] = [
        r.random_range(120.0..255.0),
        r.random_range(120.0..255.0),
        r.random_range(120.0..255.0),
    ];
    let span = (w + h).max(1) as f32;
    RgbaImage::from_fn(w, h, |x, y| {
        let t = (x + y) as f32 / span;
        let c = |k: usize| (a[k] * (1.0 - t) + b[k] * t).round() as u8;
        Rgba([c(0), c(1), c(2), 255])
    })
}

/// Seeded filled rectangles and circles on a light background.
pub fn shapes(w: u32, h: u32, seed: u64) -> RgbaImage {
    let mut r = rng(seed);
    let mut img = RgbaImage::from_pixel(w, h, Rgba([240, 240, 235, 255]));
    for _ in 0..12 {
        let color = Rgba([
            r.random_range(60..230),
            r.random_range(60..230),
            r.random_range(60..230),
            255,
        ]);
        let cx = r.random_range(0..w.max(1)) as i64;
        let cy = r.random_range(0..h.max(1)) as i64;
        let s = r.random_range(w.max(8) / 16..w.max(8) / 4).max(2) as i64;
        let circle = r.random_bool(0.5);
        for y in (cy - s).max(0)..(cy + s).min(h as i64) {
            for x in (cx - s).max(0)..(cx + s).min(w as i64) {
                let inside = !circle || (x - cx).pow(2) + (y - cy).pow(2) <= s * s;
                if inside {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
    }
    img
}
