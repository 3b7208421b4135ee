//! Image operations shared by the `purify` and `ocr` layers and JailGuard's
//! mutators. Decoding is bounded so a hostile image cannot exhaust memory.

use image::{DynamicImage, ImageFormat, ImageReader, Limits, Rgb, RgbImage};
use mmsafe_core::Image;
use std::io::Cursor;

/// Largest width or height decoded (pixels).
pub const MAX_SIDE: u32 = 8192;

pub fn decode(img: &Image) -> Result<RgbImage, String> {
    let mut reader = ImageReader::new(Cursor::new(img.bytes()))
        .with_guessed_format()
        .map_err(|e| format!("image {}: {e}", short(img)))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let d = reader
        .decode()
        .map_err(|e| format!("image {} ({}): {e}", short(img), img.media_type()))?;
    Ok(d.to_rgb8())
}

fn short(img: &Image) -> &str {
    &img.sha256()[..12]
}

pub fn encode_png(img: &RgbImage) -> Result<Image, String> {
    let mut buf = Vec::new();
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut Cursor::new(&mut buf), ImageFormat::Png)
        .map_err(|e| format!("png encode: {e}"))?;
    Ok(Image::new(buf, "image/png"))
}

pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode_image(img)
        .map_err(|e| format!("jpeg encode: {e}"))?;
    Ok(buf)
}

/// JPEG round trip: removes high-frequency perturbations.
pub fn jpeg_roundtrip(img: &RgbImage, quality: u8) -> Result<RgbImage, String> {
    let bytes = encode_jpeg(img, quality)?;
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .map(|d| d.to_rgb8())
        .map_err(|e| format!("jpeg decode: {e}"))
}

/// Keep the top `bits` bits of every channel (bit-depth reduction / posterize).
pub fn reduce_bits(img: &mut RgbImage, bits: u8) {
    let bits = bits.clamp(1, 8);
    let mask: u8 = if bits == 8 { 0xFF } else { !(0xFFu8 >> bits) };
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            *c &= mask;
        }
    }
}

/// Down-scale by `factor` (0 < factor < 1) and back to the original size.
pub fn down_up(img: &RgbImage, factor: f32) -> RgbImage {
    use image::imageops::{resize, FilterType};
    let (w, h) = img.dimensions();
    let f = factor.clamp(0.05, 1.0);
    let sw = ((w as f32 * f).round() as u32).max(1);
    let sh = ((h as f32 * f).round() as u32).max(1);
    let small = resize(img, sw, sh, FilterType::Triangle);
    resize(&small, w, h, FilterType::Triangle)
}

pub fn gaussian_blur(img: &RgbImage, sigma: f32) -> RgbImage {
    image::imageops::blur(img, sigma.max(0.1))
}

/// Median filter with a square window of side `2*radius+1`.
pub fn median(img: &RgbImage, radius: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let r = radius as i64;
    let mut out = RgbImage::new(w, h);
    let mut win: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            for v in win.iter_mut() {
                v.clear();
            }
            for dy in -r..=r {
                for dx in -r..=r {
                    let xx = (x + dx).clamp(0, w as i64 - 1) as u32;
                    let yy = (y + dy).clamp(0, h as i64 - 1) as u32;
                    let p = img.get_pixel(xx, yy);
                    for c in 0..3 {
                        win[c].push(p[c]);
                    }
                }
            }
            let mut px = [0u8; 3];
            for c in 0..3 {
                let mid = win[c].len() / 2;
                px[c] = *win[c].select_nth_unstable(mid).1;
            }
            out.put_pixel(x as u32, y as u32, Rgb(px));
        }
    }
    out
}

/// Blur the given boxes (x, y, w, h) strongly enough that text in them is unreadable.
pub fn blur_regions(img: &mut RgbImage, boxes: &[[u32; 4]]) {
    let (w, h) = img.dimensions();
    for b in boxes {
        let [x, y, bw, bh] = *b;
        if x >= w || y >= h {
            continue;
        }
        // Pad the box a little: OCR boxes hug the glyphs.
        let pad = (bh / 4).max(2);
        let x0 = x.saturating_sub(pad);
        let y0 = y.saturating_sub(pad);
        let x1 = (x + bw + pad).min(w);
        let y1 = (y + bh + pad).min(h);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
        let sigma = (bh as f32 / 2.0).max(4.0);
        let blurred = image::imageops::blur(&crop, sigma);
        image::imageops::replace(img, &blurred, i64::from(x0), i64::from(y0));
    }
}

/// Rotate by `degrees` about the centre, nearest neighbour, black fill
/// (torchvision `RandomRotation` defaults).
pub fn rotate(img: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let dx = x as f32 + 0.5 - cx;
        let dy = y as f32 + 0.5 - cy;
        let sx = c * dx + s * dy + cx;
        let sy = -s * dx + c * dy + cy;
        if sx >= 0.0 && sy >= 0.0 && (sx as u32) < w && (sy as u32) < h {
            *img.get_pixel(sx as u32, sy as u32)
        } else {
            Rgb([0, 0, 0])
        }
    })
}

/// Invert every channel value at or above `threshold`.
pub fn solarize(img: &mut RgbImage, threshold: u8) {
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            if *c >= threshold {
                *c = 255 - *c;
            }
        }
    }
}

pub fn grayscale(img: &RgbImage) -> RgbImage {
    DynamicImage::ImageLuma8(image::imageops::grayscale(img)).to_rgb8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_reduction_and_roundtrips_keep_size() {
        let mut img = RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 77]));
        reduce_bits(&mut img, 3);
        assert!(img.pixels().all(|p| p.0.iter().all(|c| c & 0x1F == 0)));
        assert_eq!(down_up(&img, 0.5).dimensions(), (40, 30));
        assert_eq!(jpeg_roundtrip(&img, 60).unwrap().dimensions(), (40, 30));
        assert_eq!(median(&img, 1).dimensions(), (40, 30));
        let r = rotate(&img, 90.0);
        assert_eq!(r.dimensions(), (40, 30));
        let png = encode_png(&img).unwrap();
        assert_eq!(decode(&png).unwrap(), img);
    }

    #[test]
    fn undecodable_image_is_an_error_naming_it() {
        let bad = Image::new(b"\x89PNG\r\n\x1a\ngarbage".to_vec(), "image/png");
        let e = decode(&bad).unwrap_err();
        assert!(e.contains(&bad.sha256()[..12]), "{e}");
    }
}
