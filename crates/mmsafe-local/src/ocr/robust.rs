//! Reading what attackers render: faint text (contrast stretch), small
//! images (upscale), rotated text (skew estimate from a projection profile,
//! then a half turn). The cheap steps run on every image; the extra OCR
//! passes only when the first pass reads little or reads it unsurely, so
//! upright text costs what it did.

use image::{imageops, GrayImage, Luma, Rgb, RgbImage};
use mmsafe_core::OcrLine;

/// Stretch the grey levels when the image's contrast is low (text at
/// 200–245 grey on white): the darkest level that is not noise maps to 0,
/// the bright background to 255. `None` when the contrast is already fine
/// or the image is blank.
pub fn stretch_contrast(img: &RgbImage) -> Option<RgbImage> {
    let mut hist = [0usize; 256];
    for p in img.pixels() {
        hist[luma(p) as usize] += 1;
    }
    let n = (img.width() as usize * img.height() as usize).max(1);
    // Dark end: the first level with at least 0.02% of the pixels, so a few
    // noisy pixels do not count as text; bright end: the 99th percentile.
    let floor = (n / 5000).max(1);
    let lo = (0..256).find(|&v| hist[v] >= floor)?;
    let mut acc = 0;
    let hi = (0..256)
        .find(|&v| {
            acc += hist[v];
            acc * 100 >= n * 99
        })
        .unwrap_or(255);
    if hi <= lo + 8 || hi - lo >= 150 {
        return None;
    }
    let (lo, hi) = (lo as f32, hi as f32);
    let map: Vec<u8> = (0..256)
        .map(|v| (((v as f32 - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = map[*c as usize];
        }
    }
    Some(out)
}

fn luma(p: &Rgb<u8>) -> u8 {
    ((u32::from(p.0[0]) * 299 + u32::from(p.0[1]) * 587 + u32::from(p.0[2]) * 114) / 1000) as u8
}

/// Images whose longest side is below `min_side` are upscaled to it, so
/// small text reaches the detector at a readable size. `None` when not small.
pub fn upscale_small(img: &RgbImage, min_side: u32) -> Option<RgbImage> {
    let (w, h) = img.dimensions();
    let side = w.max(h);
    if side == 0 || side >= min_side {
        return None;
    }
    let f = min_side as f32 / side as f32;
    let (nw, nh) = (
        (w as f32 * f).round().max(1.0) as u32,
        (h as f32 * f).round().max(1.0) as u32,
    );
    Some(imageops::resize(
        img,
        nw,
        nh,
        imageops::FilterType::CatmullRom,
    ))
}

/// How much was read, and how surely: characters weighted by confidence.
pub fn quality(lines: &[OcrLine]) -> f32 {
    lines
        .iter()
        .map(|l| l.text.chars().filter(|c| !c.is_whitespace()).count() as f32 * l.confidence)
        .sum()
}

/// Whether a pass read its text well enough to skip the rotation passes:
/// something read, surely, by lines that are not mostly vertical.
pub fn reads_well(lines: &[OcrLine], min_mean_confidence: f32) -> bool {
    if lines.is_empty() {
        return false;
    }
    let chars: usize = lines.iter().map(|l| l.text.chars().count()).sum();
    let mean = lines
        .iter()
        .map(|l| l.confidence * l.text.chars().count() as f32)
        .sum::<f32>()
        / chars.max(1) as f32;
    let vertical = lines
        .iter()
        .filter(|l| l.bbox[3] as f32 > 1.5 * l.bbox[2] as f32)
        .count();
    mean >= min_mean_confidence && vertical * 2 <= lines.len()
}

/// The angle (degrees, counter-clockwise, in −90..90) by which the text
/// lines are tilted, from the dark pixels of a small copy: the rotation
/// whose row profile is most peaked (text lines and gaps alternate).
/// `None` when there are too few dark pixels to tell.
pub fn estimate_skew(img: &RgbImage) -> Option<f32> {
    const SIDE: u32 = 240;
    let (w, h) = img.dimensions();
    let f = (SIDE as f32 / w.max(h) as f32).min(1.0);
    let small = imageops::resize(
        &imageops::grayscale(img),
        ((w as f32 * f) as u32).max(1),
        ((h as f32 * f) as u32).max(1),
        imageops::FilterType::Triangle,
    );
    let mean = small.pixels().map(|p| f32::from(p.0[0])).sum::<f32>()
        / (small.width() * small.height()).max(1) as f32;
    // Text is whichever side of the mean is rarer (dark on light or light on dark).
    let dark: Vec<(f32, f32)> = small
        .enumerate_pixels()
        .filter(|(_, _, p)| f32::from(p.0[0]) < mean - 40.0)
        .map(|(x, y, _)| (x as f32, y as f32))
        .collect();
    let light: Vec<(f32, f32)> = small
        .enumerate_pixels()
        .filter(|(_, _, p)| f32::from(p.0[0]) > mean + 40.0)
        .map(|(x, y, _)| (x as f32, y as f32))
        .collect();
    let pts = if dark.len() <= light.len() || light.len() < 30 {
        dark
    } else {
        light
    };
    // Rules, bars and borders (a slide's title bar) are straight runs far
    // longer than any text line is dense: they would pin the angle to 0°.
    let (sw, sh) = (small.width() as usize, small.height() as usize);
    let (mut per_row, mut per_col) = (vec![0usize; sh], vec![0usize; sw]);
    for &(x, y) in &pts {
        per_row[y as usize] += 1;
        per_col[x as usize] += 1;
    }
    let pts: Vec<(f32, f32)> = pts
        .into_iter()
        .filter(|&(x, y)| per_row[y as usize] * 10 < sw * 6 && per_col[x as usize] * 10 < sh * 6)
        .collect();
    if pts.len() < 30 {
        return None;
    }
    let diag = ((small.width().pow(2) + small.height().pow(2)) as f32).sqrt();
    let bins = (2.0 * diag) as usize + 2;
    let score = |deg: f32| -> f32 {
        let (s, c) = deg.to_radians().sin_cos();
        let mut hist = vec![0f32; bins];
        for &(x, y) in &pts {
            let r = -x * s + y * c + diag;
            hist[(r.max(0.0) as usize).min(bins - 1)] += 1.0;
        }
        hist.iter().map(|v| v * v).sum()
    };
    let mut best = (0.0f32, score(0.0));
    let mut deg = -88.0;
    while deg <= 90.0 {
        let s = score(deg);
        if s > best.1 * 1.0001 {
            best = (deg, s);
        }
        deg += 2.0;
    }
    // Refine around the best coarse angle.
    let centre = best.0;
    for d in [-1.0, -0.5, 0.5, 1.0] {
        let s = score(centre + d);
        if s > best.1 {
            best = (centre + d, s);
        }
    }
    // The profile is flattest across lines running along (cos d, sin d) in
    // y-down pixels, which is text turned clockwise by d on screen.
    Some(-best.0)
}

/// Where a box of `rotate(img, deg)` lies in `img` (axis-aligned hull of
/// its turned corners, clamped to the image).
pub fn unrotate_box(bbox: [u32; 4], deg: f32, w: u32, h: u32) -> [u32; 4] {
    let (s, c) = deg.to_radians().sin_cos();
    let (wf, hf) = (w as f32, h as f32);
    let nw = (wf * c.abs() + hf * s.abs()).round();
    let nh = (wf * s.abs() + hf * c.abs()).round();
    let (x0, y0) = (bbox[0] as f32, bbox[1] as f32);
    let (x1, y1) = (x0 + bbox[2] as f32, y0 + bbox[3] as f32);
    let (mut lo_x, mut lo_y, mut hi_x, mut hi_y) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in [(x0, y0), (x1, y0), (x0, y1), (x1, y1)] {
        let (dx, dy) = (x - nw / 2.0, y - nh / 2.0);
        let sx = c * dx - s * dy + wf / 2.0;
        let sy = s * dx + c * dy + hf / 2.0;
        lo_x = lo_x.min(sx);
        lo_y = lo_y.min(sy);
        hi_x = hi_x.max(sx);
        hi_y = hi_y.max(sy);
    }
    let cl = |v: f32, m: f32| v.clamp(0.0, m) as u32;
    let (ax, ay) = (cl(lo_x, wf), cl(lo_y, hf));
    [
        ax,
        ay,
        cl(hi_x, wf).saturating_sub(ax),
        cl(hi_y, hf).saturating_sub(ay),
    ]
}

/// The colour of most of the image's edge (per-channel median of its
/// border pixels): the page, not a title bar or a corner mark, which would
/// spread into every corner the turn uncovers.
fn border_colour(img: &RgbImage) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Rgb([255, 255, 255]);
    }
    let mut edge: Vec<Rgb<u8>> = Vec::with_capacity(2 * (w + h) as usize);
    for x in 0..w {
        edge.push(*img.get_pixel(x, 0));
        edge.push(*img.get_pixel(x, h - 1));
    }
    for y in 0..h {
        edge.push(*img.get_pixel(0, y));
        edge.push(*img.get_pixel(w - 1, y));
    }
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let mut v: Vec<u8> = edge.iter().map(|p| p.0[c]).collect();
        let mid = v.len() / 2;
        *o = *v.select_nth_unstable(mid).1;
    }
    Rgb(out)
}

/// `img` turned by `deg` degrees counter-clockwise about its centre, on a
/// canvas large enough to keep every pixel, new area filled with the
/// image's border colour. Right angles turn exactly.
pub fn rotate(img: &RgbImage, deg: f32) -> RgbImage {
    let turns = (deg / 90.0).round();
    if (deg - turns * 90.0).abs() < 0.01 {
        return match (turns as i32).rem_euclid(4) {
            1 => imageops::rotate270(img),
            2 => imageops::rotate180(img),
            3 => imageops::rotate90(img),
            _ => img.clone(),
        };
    }
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (s, c) = deg.to_radians().sin_cos();
    let nw = (w * c.abs() + h * s.abs()).ceil() as u32;
    let nh = (w * s.abs() + h * c.abs()).ceil() as u32;
    let fill = border_colour(img);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ncx, ncy) = (nw as f32 / 2.0, nh as f32 / 2.0);
    RgbImage::from_fn(nw, nh, |x, y| {
        // Inverse map: output pixel → source pixel (counter-clockwise turn
        // of the content = clockwise turn of the sampling grid).
        let (dx, dy) = (x as f32 - ncx, y as f32 - ncy);
        let sx = c * dx - s * dy + cx;
        let sy = s * dx + c * dy + cy;
        if sx < 0.0 || sy < 0.0 || sx >= w - 1.0 || sy >= h - 1.0 {
            return fill;
        }
        bilinear(img, sx, sy)
    })
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: u32, yy: u32| img.get_pixel(xx, yy).0;
    let (a, b, c, d) = (p(x0, y0), p(x0 + 1, y0), p(x0, y0 + 1), p(x0 + 1, y0 + 1));
    let mut out = [0u8; 3];
    for i in 0..3 {
        let top = f32::from(a[i]) * (1.0 - fx) + f32::from(b[i]) * fx;
        let bot = f32::from(c[i]) * (1.0 - fx) + f32::from(d[i]) * fx;
        out[i] = (top * (1.0 - fy) + bot * fy).round() as u8;
    }
    Rgb(out)
}

/// A grey copy, for tests and callers that want one.
pub fn gray(img: &RgbImage) -> GrayImage {
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        Luma([luma(img.get_pixel(x, y))])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_image(angle: f32) -> RgbImage {
        // Three thick dark "text lines" on white, then turned.
        let img = RgbImage::from_fn(300, 200, |x, y| {
            let on =
                (40..260).contains(&x) && [50, 100, 150].iter().any(|&c| (c..c + 14).contains(&y));
            if on && (x / 6) % 3 != 0 {
                Rgb([20, 20, 20])
            } else {
                Rgb([255, 255, 255])
            }
        });
        rotate(&img, angle)
    }

    #[test]
    fn skew_is_found_for_tilted_and_upright_lines() {
        for angle in [0.0f32, 20.0, -35.0, 90.0] {
            let got = estimate_skew(&lines_image(angle)).unwrap();
            let diff = ((got - angle + 90.0).rem_euclid(180.0) - 90.0).abs();
            assert!(diff <= 3.0, "angle {angle}: estimated {got}");
        }
    }

    #[test]
    fn a_title_bar_does_not_pin_the_skew_of_turned_text() {
        let mut img = lines_image(25.0);
        let w = img.width();
        for y in 0..8 {
            for x in 0..w {
                img.put_pixel(x, y, Rgb([40, 90, 160]));
            }
        }
        let got = estimate_skew(&img).unwrap();
        assert!((got - 25.0).abs() <= 3.0, "estimated {got}");
    }

    #[test]
    fn faint_text_is_stretched_and_normal_text_is_not() {
        let faint = RgbImage::from_fn(100, 50, |x, _| {
            if (20..40).contains(&x) {
                Rgb([225, 225, 225])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let s = stretch_contrast(&faint).expect("stretched");
        assert_eq!(s.get_pixel(30, 10).0, [0, 0, 0]);
        assert_eq!(s.get_pixel(5, 10).0, [255, 255, 255]);
        let normal = RgbImage::from_fn(100, 50, |x, _| {
            if (20..40).contains(&x) {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        assert!(stretch_contrast(&normal).is_none());
        assert!(stretch_contrast(&RgbImage::from_pixel(10, 10, Rgb([255, 255, 255]))).is_none());
    }

    #[test]
    fn right_angles_turn_exactly() {
        let img = RgbImage::from_fn(3, 2, |x, y| Rgb([x as u8, y as u8, 0]));
        let r = rotate(&img, 90.0);
        assert_eq!(r.dimensions(), (2, 3));
        assert_eq!(rotate(&rotate(&img, 180.0), 180.0), img);
    }
}
