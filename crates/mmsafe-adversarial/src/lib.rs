//! Gradient-based adversarial images against surrogate vision encoders.
//!
//! The transfer setting: optimize pixels against open encoders (CLIP) whose
//! embeddings feed many MLLMs, then measure the effect on any target in a normal
//! scan. Three goals (`Mode`): towards a text embedding, towards an image
//! embedding, or away from the clean embedding; three optimizers (PGD L∞, PGD
//! L2, Adam); expectation over transformation; ensembles (mean loss); and a
//! deploy check that re-measures the 8-bit PNG actually saved.
//!
//! Everything differentiable is built from composed tensor ops (`nn`): candle's
//! fused LayerNorm has no backward pass and would silently stop the gradient.

pub mod attack;
pub mod bench;
pub mod clip;
pub mod error;
pub mod imageio;
pub mod nn;
pub mod parity;
pub mod preprocess;
pub mod quality;

pub use attack::{AttackConfig, AttackOutcome, Attacker, Goal, Mode, Optimizer, Schedule};
pub use clip::{ClipConfig, ClipSurrogate};
pub use error::{AdvError, Result};
pub use imageio::Rgb8;
pub use quality::Imperceptibility;

/// Something whose loss can be differentiated with respect to input pixels.
///
/// The surrogate-encoder objectives here implement it; a white-box attack on a
/// full open MLLM (teacher-forced cross-entropy of a target text given the
/// image, as in Qi et al.) would implement the same trait and reuse the
/// optimizers unchanged.
pub trait Differentiable {
    /// Scalar loss for `(B, 3, H, W)` pixels in [0, 1]; lower is better for the attacker.
    fn loss(&self, pixels: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor>;
}

/// Pick the compute device: `cpu`, or `cuda`/`cuda:N` with the `cuda` feature.
pub fn device(name: &str) -> Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        n if n.starts_with("cuda") => {
            let ordinal = n
                .strip_prefix("cuda:")
                .map(|i| i.parse::<usize>())
                .transpose()
                .map_err(|_| AdvError::InvalidValue(format!("bad device `{n}`")))?
                .unwrap_or(0);
            if cfg!(feature = "cuda") {
                Ok(candle_core::Device::new_cuda(ordinal)?)
            } else {
                Err(AdvError::InvalidValue(format!(
                    "device `{n}` needs the `cuda` feature: rebuild with `--features cuda`"
                )))
            }
        }
        other => Err(AdvError::InvalidValue(format!(
            "unknown device `{other}`; valid: cpu, cuda, cuda:N"
        ))),
    }
}
