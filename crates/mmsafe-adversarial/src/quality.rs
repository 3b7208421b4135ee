//! Imperceptibility figures of an adversarial image against its clean source.

use serde::{Deserialize, Serialize};

/// Computed on 8-bit RGB pixels scaled to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Imperceptibility {
    pub linf: f64,
    /// Euclidean norm of the whole perturbation (all channels, all pixels).
    pub l2: f64,
    /// Peak signal-to-noise ratio in dB (infinite when identical, reported as 99).
    pub psnr: f64,
    /// Mean SSIM on luma, 7×7 uniform windows (scikit-image's default window).
    pub ssim: f64,
}

/// `clean` and `adv` are interleaved RGB bytes of the same `w × h` image.
pub fn measure(clean: &[u8], adv: &[u8], w: usize, h: usize) -> Imperceptibility {
    let mut linf = 0f64;
    let mut sq = 0f64;
    for (a, b) in clean.iter().zip(adv) {
        let d = (*a as f64 - *b as f64) / 255.0;
        linf = linf.max(d.abs());
        sq += d * d;
    }
    let mse = sq / clean.len().max(1) as f64;
    let psnr = if mse == 0.0 {
        99.0
    } else {
        (10.0 * (1.0 / mse).log10()).min(99.0)
    };
    Imperceptibility {
        linf,
        l2: sq.sqrt(),
        psnr,
        ssim: ssim_luma(clean, adv, w, h),
    }
}

fn luma(rgb: &[u8], w: usize, h: usize) -> Vec<f64> {
    (0..w * h)
        .map(|i| {
            let p = &rgb[i * 3..i * 3 + 3];
            (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64) / 255.0
        })
        .collect()
}

/// Integral image with a zero first row/column.
fn integral(v: &[f64], w: usize, h: usize) -> Vec<f64> {
    let mut s = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0;
        for x in 0..w {
            row += v[y * w + x];
            s[(y + 1) * (w + 1) + x + 1] = s[y * (w + 1) + x + 1] + row;
        }
    }
    s
}

pub fn ssim_luma(clean: &[u8], adv: &[u8], w: usize, h: usize) -> f64 {
    const WIN: usize = 7;
    if w < WIN || h < WIN {
        return if clean == adv { 1.0 } else { 0.0 };
    }
    let a = luma(clean, w, h);
    let b = luma(adv, w, h);
    let aa: Vec<f64> = a.iter().map(|x| x * x).collect();
    let bb: Vec<f64> = b.iter().map(|x| x * x).collect();
    let ab: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let (ia, ib, iaa, ibb, iab) = (
        integral(&a, w, h),
        integral(&b, w, h),
        integral(&aa, w, h),
        integral(&bb, w, h),
        integral(&ab, w, h),
    );
    let sum = |s: &[f64], x: usize, y: usize| {
        let (x1, y1) = (x + WIN, y + WIN);
        s[y1 * (w + 1) + x1] - s[y * (w + 1) + x1] - s[y1 * (w + 1) + x] + s[y * (w + 1) + x]
    };
    let n = (WIN * WIN) as f64;
    // Sample covariance as scikit-image does (n / (n - 1)).
    let cov_norm = n / (n - 1.0);
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for y in 0..=h - WIN {
        for x in 0..=w - WIN {
            let ma = sum(&ia, x, y) / n;
            let mb = sum(&ib, x, y) / n;
            let va = cov_norm * (sum(&iaa, x, y) / n - ma * ma);
            let vb = cov_norm * (sum(&ibb, x, y) / n - mb * mb);
            let cab = cov_norm * (sum(&iab, x, y) / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cab + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
        }
    }
    total / count as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adversarial_quality_identical_and_perturbed() {
        let (w, h) = (16, 16);
        let clean: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let same = measure(&clean, &clean, w, h);
        assert_eq!(same.linf, 0.0);
        assert_eq!(same.psnr, 99.0);
        assert!((same.ssim - 1.0).abs() < 1e-9);
        let adv: Vec<u8> = clean.iter().map(|v| v.saturating_add(4)).collect();
        let q = measure(&clean, &adv, w, h);
        assert!((q.linf - 4.0 / 255.0).abs() < 1e-9);
        assert!(q.psnr > 30.0 && q.psnr < 99.0);
        assert!(q.ssim < 1.0 && q.ssim > 0.5);
    }
}
