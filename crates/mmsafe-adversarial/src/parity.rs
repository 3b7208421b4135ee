//! Agreement of the attack's loss and input gradient between two devices.
//!
//! The GPU path runs different kernels (cuBLAS, candle's CUDA reductions) from
//! the CPU path, so "it runs" is not "it computes the same attack". This builds
//! the same seeded surrogate and the same pixels on both devices, takes one
//! loss + backward through the full differentiable pipeline (resize/crop
//! matrices, normalization, vision tower, cosine to a goal), and compares.

use crate::clip::{ClipConfig, ClipSurrogate};
use crate::error::Result;
use crate::preprocess::{normalize, AxisMaps};
use candle_core::{Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One loss/gradient evaluation on device `a` against device `b`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agreement {
    pub device_a: String,
    pub device_b: String,
    pub loss_a: f64,
    pub loss_b: f64,
    /// ‖g_a − g_b‖ / ‖g_a‖.
    pub grad_rel_l2: f64,
    /// Cosine between the two input gradients.
    pub grad_cosine: f64,
    /// Share of pixels whose gradient sign agrees: what a PGD-L∞ step uses.
    pub grad_sign_agreement: f64,
    pub grad_max_abs_diff: f64,
}

/// Loss and input gradient for `batch` seeded images of `h × w` pixels on `a` and `b`.
pub fn agreement(
    config: &ClipConfig,
    seed: u64,
    batch: usize,
    (h, w): (usize, usize),
    a: &Device,
    b: &Device,
) -> Result<Agreement> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let pixels: Vec<f32> = (0..batch * 3 * h * w)
        .map(|_| rng.random::<f32>())
        .collect();
    let goal: Vec<f32> = (0..config.projection_dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let (loss_a, grad_a) = loss_and_grad(config, seed, &pixels, &goal, (batch, h, w), a)?;
    let (loss_b, grad_b) = loss_and_grad(config, seed, &pixels, &goal, (batch, h, w), b)?;
    let (mut diff2, mut norm_a2, mut norm_b2, mut dot, mut max_abs) =
        (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut same_sign = 0usize;
    for (&x, &y) in grad_a.iter().zip(&grad_b) {
        let (x, y) = (x as f64, y as f64);
        diff2 += (x - y).powi(2);
        norm_a2 += x * x;
        norm_b2 += y * y;
        dot += x * y;
        max_abs = max_abs.max((x - y).abs());
        if x.signum() == y.signum() || (x == 0.0 && y == 0.0) {
            same_sign += 1;
        }
    }
    Ok(Agreement {
        device_a: format!("{a:?}"),
        device_b: format!("{b:?}"),
        loss_a,
        loss_b,
        grad_rel_l2: diff2.sqrt() / norm_a2.sqrt().max(1e-30),
        grad_cosine: dot / (norm_a2.sqrt() * norm_b2.sqrt()).max(1e-30),
        grad_sign_agreement: same_sign as f64 / grad_a.len().max(1) as f64,
        grad_max_abs_diff: max_abs,
    })
}

fn loss_and_grad(
    config: &ClipConfig,
    seed: u64,
    pixels: &[f32],
    goal: &[f32],
    (batch, h, w): (usize, usize, usize),
    device: &Device,
) -> Result<(f64, Vec<f32>)> {
    // Weights come from a host-side seeded generator, so both devices get the same bytes.
    let s = ClipSurrogate::random("parity", config.clone(), seed, device)?;
    let x = Var::from_tensor(&Tensor::from_slice(pixels, (batch, 3, h, w), device)?)?;
    let goal = crate::nn::l2_normalize(&Tensor::from_slice(goal, (1, goal.len()), device)?)?;
    let view = AxisMaps::center(h, w, s.vision.image_size).apply(x.as_tensor())?;
    let px = normalize(
        &view,
        s.preprocess.image_mean,
        s.preprocess.image_std,
        device,
    )?;
    let emb = s.embed_pixels(&px)?;
    let loss = emb
        .broadcast_mul(&goal)?
        .sum(D::Minus1)?
        .mean_all()?
        .affine(-1.0, 1.0)?;
    let grads = loss.backward()?;
    let g = grads.get(x.as_tensor()).ok_or_else(|| {
        crate::error::AdvError::InvalidValue(format!(
            "no gradient reached the input image on {device:?}"
        ))
    })?;
    Ok((
        loss.to_scalar::<f32>()? as f64,
        g.flatten_all()?.to_device(&Device::Cpu)?.to_vec1::<f32>()?,
    ))
}
