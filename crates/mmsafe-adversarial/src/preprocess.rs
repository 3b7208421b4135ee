//! Differentiable preprocessing and expectation-over-transformation (EOT).
//!
//! Every geometric or blur step is a linear map along rows and along columns,
//! so an image transform is `R · X · Cᵀ` per channel: two matrix products that
//! backpropagate exactly. Resize, centre crop, random resized crop and Gaussian
//! blur all compose into one pair of matrices before touching the image.

use candle_core::{Device, Result, Tensor};
use rand::Rng;

/// Antialiased linear resampling weights (triangle filter whose support widens
/// when downscaling, as PIL's bilinear does), for output pixels covering the
/// input interval `[start, start + len)` of an axis of `input` pixels.
pub fn resample_matrix(input: usize, start: f64, len: f64, output: usize) -> Vec<f32> {
    let scale = len / output as f64;
    let support = scale.max(1.0);
    let mut m = vec![0f32; output * input];
    for o in 0..output {
        let center = start + (o as f64 + 0.5) * scale;
        let lo = ((center - support).floor() as isize).max(0) as usize;
        let hi = ((center + support).ceil() as usize).min(input);
        let mut sum = 0.0;
        for i in lo..hi {
            let dist = ((i as f64 + 0.5) - center).abs() / support;
            let w = (1.0 - dist).max(0.0);
            m[o * input + i] = w as f32;
            sum += w;
        }
        if sum > 0.0 {
            for i in lo..hi {
                m[o * input + i] /= sum as f32;
            }
        } else {
            let nearest = (center.floor() as usize).min(input - 1);
            m[o * input + nearest] = 1.0;
        }
    }
    m
}

/// Gaussian blur as an `n × n` matrix (edges renormalized).
pub fn blur_matrix(n: usize, sigma: f64) -> Vec<f32> {
    let mut m = vec![0f32; n * n];
    if sigma <= 0.0 {
        for i in 0..n {
            m[i * n + i] = 1.0;
        }
        return m;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    for i in 0..n as isize {
        let mut sum = 0.0;
        for k in -radius..=radius {
            let j = i + k;
            if j >= 0 && j < n as isize {
                let w = (-(k * k) as f64 / (2.0 * sigma * sigma)).exp();
                m[(i as usize) * n + j as usize] = w as f32;
                sum += w;
            }
        }
        for j in 0..n {
            m[i as usize * n + j] /= sum as f32;
        }
    }
    m
}

fn matmul_small(a: &[f32], b: &[f32], rows: usize, inner: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        for k in 0..inner {
            let av = a[r * inner + k];
            if av == 0.0 {
                continue;
            }
            for c in 0..cols {
                out[r * cols + c] += av * b[k * cols + c];
            }
        }
    }
    out
}

/// One sampled transform: a row map (S × H) and a column map (S × W).
#[derive(Debug, Clone)]
pub struct AxisMaps {
    pub rows: Vec<f32>,
    pub cols: Vec<f32>,
    pub h: usize,
    pub w: usize,
    pub size: usize,
}

impl AxisMaps {
    /// CLIP-style: resize the shorter side to `size`, centre crop `size × size`.
    pub fn center(h: usize, w: usize, size: usize) -> AxisMaps {
        let side = h.min(w) as f64;
        let (y0, x0) = ((h as f64 - side) / 2.0, (w as f64 - side) / 2.0);
        AxisMaps {
            rows: resample_matrix(h, y0, side, size),
            cols: resample_matrix(w, x0, side, size),
            h,
            w,
            size,
        }
    }

    /// EOT sample: a random square crop covering `[min_area, 1]` of the centre
    /// square at a random offset, resized to `size`, then a Gaussian blur of
    /// random sigma in `[0, max_sigma]` (a stand-in for JPEG's loss of detail).
    pub fn random<R: Rng>(
        h: usize,
        w: usize,
        size: usize,
        min_area: f64,
        max_sigma: f64,
        rng: &mut R,
    ) -> AxisMaps {
        let side = h.min(w) as f64;
        let frac = rng.random_range(min_area.clamp(0.05, 1.0)..=1.0).sqrt();
        let crop = side * frac;
        let y0 = rng.random_range(0.0..=(h as f64 - crop).max(0.0));
        let x0 = rng.random_range(0.0..=(w as f64 - crop).max(0.0));
        let sigma = if max_sigma > 0.0 {
            rng.random_range(0.0..=max_sigma)
        } else {
            0.0
        };
        let blur = blur_matrix(size, sigma);
        let rows = matmul_small(&blur, &resample_matrix(h, y0, crop, size), size, size, h);
        let cols = matmul_small(&blur, &resample_matrix(w, x0, crop, size), size, size, w);
        AxisMaps {
            rows,
            cols,
            h,
            w,
            size,
        }
    }

    /// Apply to `(B, 3, H, W)` pixels in [0, 1]; returns `(B, 3, S, S)`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let dev = x.device();
        let rows = Tensor::from_slice(&self.rows, (self.size, self.h), dev)?;
        let cols_t = Tensor::from_slice(&self.cols, (self.size, self.w), dev)?
            .t()?
            .contiguous()?;
        let y = x.broadcast_matmul(&cols_t)?; // (B,3,H,S)
        rows.broadcast_matmul(&y) // (B,3,S,S)
    }
}

/// CLIP mean/std normalization of `(B, 3, S, S)` pixels.
pub fn normalize(x: &Tensor, mean: [f32; 3], std: [f32; 3], device: &Device) -> Result<Tensor> {
    let m = Tensor::from_slice(&mean, (1, 3, 1, 1), device)?;
    let s = Tensor::from_slice(&std, (1, 3, 1, 1), device)?;
    x.broadcast_sub(&m)?.broadcast_div(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adversarial_resample_rows_sum_to_one() {
        for (inp, out) in [(760, 224), (100, 224), (224, 224)] {
            let m = resample_matrix(inp, 0.0, inp as f64, out);
            for o in 0..out {
                let s: f32 = m[o * inp..(o + 1) * inp].iter().sum();
                assert!((s - 1.0).abs() < 1e-4, "row {o} sums to {s}");
            }
        }
        let b = blur_matrix(10, 1.0);
        let s: f32 = b[50..60].iter().sum();
        assert!((s - 1.0).abs() < 1e-5);
    }

    #[test]
    fn adversarial_identity_resize_is_identity() {
        let m = resample_matrix(8, 0.0, 8.0, 8);
        for i in 0..8 {
            assert!((m[i * 8 + i] - 1.0).abs() < 1e-6);
        }
    }
}
