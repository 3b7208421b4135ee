//! The GPU device check (scripts/gpu-check.sh runs it; docs/adversarial.md, "GPU").
//!
//!     device_check DEVICE [VIT_DIR]
//!
//! Prints one JSON object per line:
//! - `agreement`: loss and input gradient, CPU vs DEVICE, on the tests' tiny CLIP
//!   and on ViT-B/32 shapes (same seeded weights and pixels on both);
//! - `attack`: the integration tests' attacks (each mode, L2 + EOT, Adam, an
//!   ensemble with restarts) on the tests' tiny CLIP fixture, on the CPU and on
//!   DEVICE, with the tests' assertions and the CPU-vs-DEVICE differences;
//! - `bench`: seconds per PGD step at batch 1 and 8 on ViT-B/32 shapes, both devices;
//! - `end_to_end`: a full attack of a 640×480 image through a ViT-B/32 loaded from
//!   VIT_DIR (HF layout, e.g. made by scripts/gpu_check.py), both devices.
//!
//! One binary instead of the CLI because the device machine takes 64 MiB of
//! files per run and a CUDA build of the whole `mmsafe` CLI is larger than that.
//! Exits 1 when a check fails.

use candle_core::Device;
use mmsafe_adversarial::clip::{random_weights, ClipConfig, ClipSurrogate};
use mmsafe_adversarial::{AttackConfig, AttackOutcome, Attacker, Goal, Mode, Optimizer, Rgb8};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const TINY: &str = r#"{
  "model_type": "clip",
  "projection_dim": 16,
  "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
    "num_hidden_layers": 2, "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu"},
  "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
    "num_hidden_layers": 2, "max_position_embeddings": 16, "vocab_size": 12, "hidden_act": "quick_gelu"}
}"#;

const TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
"normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<unk>":0,"a":1,"photo":2,"of":3,"bomb":4,"cat":5,"dog":6,"how":7,"to":8,"make":9,
"<|startoftext|>":10,"<|endoftext|>":11},"unk_token":"<unk>"}}"#;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn write_tiny(dir: &Path, seed: u64) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), TINY)?;
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER)?;
    let cfg: ClipConfig = serde_json::from_str(TINY)?;
    let map = random_weights(&cfg, seed, &Device::Cpu)?;
    candle_core::safetensors::save(&map, dir.join("model.safetensors"))?;
    Ok(())
}

/// The tests' clean image: smooth gradients plus a disc, 48×40.
fn clean_image() -> Rgb8 {
    let (w, h) = (48usize, 40usize);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let inside = (x as i32 - 20).pow(2) + (y as i32 - 18).pow(2) < 100;
            data.push((x * 5) as u8);
            data.push((y * 6) as u8);
            data.push(if inside { 220 } else { 40 });
        }
    }
    Rgb8 { w, h, data }
}

fn goal_image() -> Rgb8 {
    let mut g = clean_image();
    for (i, b) in g.data.iter_mut().enumerate() {
        *b = ((i * 37) % 256) as u8;
    }
    g
}

fn photo() -> Rgb8 {
    let (w, h) = (640usize, 480usize);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            data.extend([
                (x * 255 / 639) as u8,
                (y * 255 / 479) as u8,
                ((x + y) % 256) as u8,
            ]);
        }
    }
    Rgb8 { w, h, data }
}

fn config(mode: Mode, seed: u64) -> AttackConfig {
    AttackConfig {
        mode,
        eps: 32.0 / 255.0,
        step: 2.0 / 255.0,
        steps: 30,
        seed,
        ..AttackConfig::default()
    }
}

struct Case {
    name: &'static str,
    surrogates: Vec<&'static str>,
    config: AttackConfig,
    goal: Goal,
}

/// The configurations of tests/adversarial.rs.
fn cases() -> Vec<Case> {
    let text = || Goal::Text("a photo of a cat".into());
    vec![
        Case {
            name: "embed-text",
            surrogates: vec!["s2"],
            config: config(Mode::EmbedText, 7),
            goal: text(),
        },
        Case {
            name: "embed-image",
            surrogates: vec!["s2"],
            config: config(Mode::EmbedImage, 7),
            goal: Goal::Image(goal_image()),
        },
        Case {
            name: "untargeted",
            surrogates: vec!["s2"],
            config: config(Mode::Untargeted, 7),
            goal: Goal::AwayFromClean,
        },
        Case {
            name: "l2-eot",
            surrogates: vec!["s3"],
            config: AttackConfig {
                optimizer: Optimizer::PgdL2,
                eps: 1.0,
                step: 0.2,
                eot_samples: 3,
                ..config(Mode::EmbedText, 3)
            },
            goal: text(),
        },
        Case {
            name: "adam",
            surrogates: vec!["s3"],
            config: AttackConfig {
                optimizer: Optimizer::Adam,
                eps: 1.0,
                step: 0.01,
                ..config(Mode::EmbedImage, 4)
            },
            goal: Goal::Image(goal_image()),
        },
        Case {
            name: "ensemble-restarts",
            surrogates: vec!["s21", "s22"],
            config: AttackConfig {
                restarts: 2,
                ..config(Mode::EmbedImage, 9)
            },
            goal: Goal::Image(goal_image()),
        },
    ]
}

/// The assertions the integration tests make on an outcome.
fn test_checks(case: &Case, o: &AttackOutcome) -> serde_json::Value {
    let c = &case.config;
    let drop_ok = match (c.optimizer, case.name) {
        (Optimizer::PgdL2, _) => o.loss_final < o.loss_initial,
        _ => o.loss_final < o.loss_initial - 0.05,
    };
    let budget_ok = match c.optimizer {
        Optimizer::PgdL2 => o.imperceptibility.l2 <= c.eps + 0.05,
        _ => o.imperceptibility.linf <= c.eps + 1.0 / 255.0 + 1e-9,
    };
    let deployed_ok = (o.loss_deployed - o.loss_final).abs() < 0.1;
    let psnr_ok = c.optimizer != Optimizer::PgdLinf || o.imperceptibility.psnr > 20.0;
    let ensemble_ok = o
        .similarity_initial
        .iter()
        .zip(&o.similarity_deployed)
        .all(|(b, a)| case.surrogates.len() < 2 || a > b);
    json!({"loss_drops": drop_ok, "within_budget": budget_ok, "deployed_close": deployed_ok,
           "psnr": psnr_ok, "each_surrogate_moves": ensemble_ok,
           "ok": drop_ok && budget_ok && deployed_ok && psnr_ok && ensemble_ok})
}

fn outcome_json(o: &AttackOutcome, secs: f64) -> serde_json::Value {
    json!({"loss": {"initial": o.loss_initial, "final": o.loss_final, "deployed": o.loss_deployed},
           "similarity_deployed": o.similarity_deployed, "linf": o.imperceptibility.linf,
           "l2": o.imperceptibility.l2, "psnr": o.imperceptibility.psnr, "seconds": secs})
}

fn attacks(dev_name: &str, dev: &Device, root: &Path) -> Res<bool> {
    let mut all_ok = true;
    for case in cases() {
        let mut runs = Vec::new();
        for (name, d) in [("cpu", &Device::Cpu), (dev_name, dev)] {
            let s: Vec<ClipSurrogate> = case
                .surrogates
                .iter()
                .map(|n| ClipSurrogate::load(&root.join(n), d))
                .collect::<Result<_, _>>()?;
            let t = Instant::now();
            let out = Attacker::new(&s, case.config.clone())?.run(&clean_image(), &case.goal)?;
            runs.push((name, out, t.elapsed().as_secs_f64()));
        }
        let (a, b) = (&runs[0].1, &runs[1].1);
        let (pa, pb) = (
            a.adversarial
                .as_ref()
                .map(|i| i.data.clone())
                .unwrap_or_default(),
            b.adversarial
                .as_ref()
                .map(|i| i.data.clone())
                .unwrap_or_default(),
        );
        let max_px = pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap_or(0);
        let same_px =
            pa.iter().zip(&pb).filter(|(x, y)| x == y).count() as f64 / pa.len().max(1) as f64;
        let initial_diff = (a.loss_initial - b.loss_initial).abs();
        let final_diff = (a.loss_final - b.loss_final).abs();
        let checks_a = test_checks(&case, a);
        let checks_b = test_checks(&case, b);
        // The forward pass on the clean image must agree to float noise; the
        // trajectories may drift apart (a tiny gradient's sign flips), so the
        // final losses only need to be close.
        let ok = checks_a["ok"] == true
            && checks_b["ok"] == true
            && initial_diff < 1e-4
            && final_diff < 0.05;
        all_ok &= ok;
        println!(
            "{}",
            json!({"attack": case.name, "ok": ok,
                   "cpu": {"outcome": outcome_json(a, runs[0].2), "checks": checks_a},
                   "device": {"name": dev_name, "outcome": outcome_json(b, runs[1].2), "checks": checks_b},
                   "agreement": {"initial_loss_diff": initial_diff, "final_loss_diff": final_diff,
                                 "pixels_max_abs_diff": max_px, "pixels_share_identical": same_px}})
        );
    }
    Ok(all_ok)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let dev_name = args.get(1).cloned().unwrap_or_else(|| "cuda".into());
    let vit_dir = args.get(2).map(std::path::PathBuf::from);
    let dev = mmsafe_adversarial::device(&dev_name)?;
    let mut all_ok = true;

    // 1. Agreement of loss and input gradient.
    let tiny: ClipConfig = serde_json::from_str(TINY)?;
    let mut vit = ClipConfig::vit_b32();
    vit.text_config = None;
    for (name, cfg, batch, hw) in [
        ("tiny", &tiny, 2, (40, 48)),
        ("vit-b32", &vit, 2, (240, 320)),
    ] {
        let a = mmsafe_adversarial::parity::agreement(cfg, 3, batch, hw, &Device::Cpu, &dev)?;
        // The thresholds of adversarial_devices_agree_on_loss_and_gradient.
        let ok = (a.loss_a - a.loss_b).abs() < 1e-4
            && a.grad_rel_l2 < 1e-3
            && a.grad_cosine > 0.9999
            && a.grad_sign_agreement > 0.99;
        all_ok &= ok;
        println!("{}", json!({"agreement": name, "ok": ok, "result": a}));
    }

    // 2. The tests' attacks on the tests' fixture, both devices.
    let root = std::env::temp_dir().join(format!("mmsafe-device-check-{}", std::process::id()));
    for (n, seed) in [("s2", 2), ("s3", 3), ("s21", 21), ("s22", 22)] {
        write_tiny(&root.join(n), seed)?;
    }
    all_ok &= attacks(&dev_name, &dev, &root)?;
    let _ = std::fs::remove_dir_all(&root);

    // 3. Seconds per PGD step (what `mmsafe bench adversarial` measures).
    for (name, d) in [("cpu", &Device::Cpu), (dev_name.as_str(), &dev)] {
        let s = ClipSurrogate::random("vit-b32-random", vit.clone(), 0, d)?;
        let steps = if name == "cpu" { 3 } else { 20 };
        let b1 = mmsafe_adversarial::bench::seconds_per_step(&s, 1, steps)?;
        let b8 = mmsafe_adversarial::bench::seconds_per_step(&s, 8, steps)?;
        println!(
            "{}",
            json!({"bench": name, "steps": steps, "seconds_per_step_batch1": b1, "seconds_per_step_batch8": b8})
        );
    }

    // 4. End to end through the loader: ViT-B/32 weights from disk, a 640×480 image.
    if let Some(dir) = vit_dir {
        for (name, d, steps) in [(dev_name.as_str(), &dev, 100), ("cpu", &Device::Cpu, 5)] {
            let t = Instant::now();
            let s = [ClipSurrogate::load(&dir, d)?];
            let load = t.elapsed().as_secs_f64();
            let cfg = AttackConfig {
                steps,
                ..config(Mode::EmbedText, 1)
            };
            let t = Instant::now();
            let o =
                Attacker::new(&s, cfg)?.run(&photo(), &Goal::Text("a photo of a cat".into()))?;
            let secs = t.elapsed().as_secs_f64();
            let ok = o.loss_final < o.loss_initial;
            all_ok &= ok;
            println!(
                "{}",
                json!({"end_to_end": name, "ok": ok, "steps": steps, "load_seconds": load,
                       "attack_seconds": secs, "seconds_per_step": secs / steps as f64,
                       "outcome": outcome_json(&o, secs)})
            );
        }
    }
    println!("{}", json!({"all_ok": all_ok}));
    if !all_ok {
        std::process::exit(1);
    }
    Ok(())
}
