//! `mmsafe bench adversarial`: seconds per PGD step (forward + backward + update)
//! on a ViT-B/32-shaped surrogate with random weights at 224×224.

use crate::exit::Outcome;
use candle_core::{Tensor, Var, D};
use mmsafe_adversarial::clip::{ClipConfig, ClipSurrogate};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed steps per batch size (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// cpu, or cuda[:N] when built with `--features cuda` (then both are measured).
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    json: bool,
}

fn seconds_per_step(s: &ClipSurrogate, batch: usize, steps: usize) -> anyhow::Result<f64> {
    let dev = s.device();
    let x0 = Tensor::rand(0f32, 1f32, (batch, 3, 224, 224), dev)?;
    let target = Tensor::rand(-1f32, 1f32, (1, 512), dev)?;
    let mut delta = Tensor::zeros((batch, 3, 224, 224), candle_core::DType::F32, dev)?;
    let step = |delta: &Tensor| -> anyhow::Result<Tensor> {
        let var = Var::from_tensor(delta)?;
        let x = (&x0 + var.as_tensor())?.clamp(0f32, 1f32)?;
        let emb = s.embed_pixels(&x)?;
        let loss = emb.broadcast_mul(&target)?.sum(D::Minus1)?.mean_all()?;
        let grads = loss.backward()?;
        let g = grads
            .get(var.as_tensor())
            .ok_or_else(|| anyhow::anyhow!("no input gradient"))?;
        Ok((delta - (g.sign()? * (1.0 / 255.0))?)?.clamp(-16f32 / 255.0, 16f32 / 255.0)?)
    };
    delta = step(&delta)?; // warm-up
    let t = std::time::Instant::now();
    for _ in 0..steps {
        delta = step(&delta)?;
    }
    let _ = delta.sum_all()?.to_scalar::<f32>()?; // force completion on async devices
    Ok(t.elapsed().as_secs_f64() / steps.max(1) as f64)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut devices = vec!["cpu".to_string()];
    if args.device != "cpu" {
        devices.push(args.device.clone());
    }
    let mut report = serde_json::Map::new();
    for name in devices {
        let device = mmsafe_adversarial::device(&name)?;
        let mut cfg = ClipConfig::vit_b32();
        cfg.text_config = None; // the text tower plays no part in a PGD step
        let s = ClipSurrogate::random("vit-b32-random", cfg, 0, &device)?;
        let b1 = seconds_per_step(&s, 1, args.steps)?;
        let b8 = seconds_per_step(&s, 8, args.steps)?;
        let key = if name == "cpu" { "cpu" } else { "gpu" };
        if !args.json {
            crate::exit::outln!(
                "{key} ({name}): {b1:.3} s/step at batch 1, {b8:.3} s/step at batch 8 ({:.3} s per image)",
                b8 / 8.0
            )?;
        }
        report.insert(
            key.to_string(),
            serde_json::json!({"seconds_per_step_batch1": b1, "seconds_per_step_batch8": b8}),
        );
    }
    if args.json {
        crate::exit::outln!("{}", serde_json::Value::Object(report))?;
    }
    Ok(Outcome::Ok)
}
