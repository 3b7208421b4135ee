//! Seconds per PGD step (forward + backward + update) of a surrogate at 224×224:
//! what `mmsafe bench adversarial` and the GPU device check report.

use crate::clip::ClipSurrogate;
use crate::error::{AdvError, Result};
use candle_core::{Tensor, Var, D};

/// Mean wall time of `steps` PGD-L∞ steps on a `batch` of random images, after one warm-up step.
pub fn seconds_per_step(s: &ClipSurrogate, batch: usize, steps: usize) -> Result<f64> {
    let dev = s.device();
    let size = s.vision.image_size;
    let x0 = Tensor::rand(0f32, 1f32, (batch, 3, size, size), dev)?;
    let target = Tensor::rand(-1f32, 1f32, (1, s.config.projection_dim), dev)?;
    let mut delta = Tensor::zeros((batch, 3, size, size), candle_core::DType::F32, dev)?;
    let step = |delta: &Tensor| -> Result<Tensor> {
        let var = Var::from_tensor(delta)?;
        let x = (&x0 + var.as_tensor())?.clamp(0f32, 1f32)?;
        let emb = s.embed_pixels(&x)?;
        let loss = emb.broadcast_mul(&target)?.sum(D::Minus1)?.mean_all()?;
        let grads = loss.backward()?;
        let g = grads
            .get(var.as_tensor())
            .ok_or_else(|| AdvError::InvalidValue("no input gradient".into()))?;
        Ok((delta - (g.sign()? * (1.0 / 255.0))?)?.clamp(-16f32 / 255.0, 16f32 / 255.0)?)
    };
    delta = step(&delta)?; // warm-up: kernel loading, allocator growth
    let _ = delta.sum_all()?.to_scalar::<f32>()?;
    let t = std::time::Instant::now();
    for _ in 0..steps {
        delta = step(&delta)?;
    }
    // A GPU queues work asynchronously: read a value back so the clock covers it.
    let _ = delta.sum_all()?.to_scalar::<f32>()?;
    Ok(t.elapsed().as_secs_f64() / steps.max(1) as f64)
}
