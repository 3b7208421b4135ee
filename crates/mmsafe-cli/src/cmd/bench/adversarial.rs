//! `mmsafe bench adversarial`: seconds per PGD step (forward + backward + update)
//! on a ViT-B/32-shaped surrogate with random weights at 224×224.

use crate::exit::Outcome;
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
        let b1 = mmsafe_adversarial::bench::seconds_per_step(&s, 1, args.steps)?;
        let b8 = mmsafe_adversarial::bench::seconds_per_step(&s, 8, args.steps)?;
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
    if args.device != "cpu" {
        // Same weights and pixels on both devices: a speed-up is worth little if the
        // GPU computes a different attack.
        let device = mmsafe_adversarial::device(&args.device)?;
        let mut cfg = ClipConfig::vit_b32();
        cfg.text_config = None;
        let agree = mmsafe_adversarial::parity::agreement(
            &cfg,
            0,
            2,
            (240, 320),
            &candle_core::Device::Cpu,
            &device,
        )?;
        if !args.json {
            crate::exit::outln!(
                "cpu vs {}: loss {:.6} vs {:.6}, input gradient rel. L2 diff {:.2e}, cosine {:.6}, sign agreement {:.4}",
                args.device, agree.loss_a, agree.loss_b, agree.grad_rel_l2, agree.grad_cosine, agree.grad_sign_agreement
            )?;
        }
        report.insert("agreement".to_string(), serde_json::to_value(&agree)?);
    }
    if args.json {
        crate::exit::outln!("{}", serde_json::Value::Object(report))?;
    }
    Ok(Outcome::Ok)
}
