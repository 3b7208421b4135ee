//! Adversarial attacks on a tiny CLIP with seeded random weights, written as
//! safetensors into a temp dir and loaded through the real loader.
//!
//! `MMSAFE_TEST_DEVICE=cuda` (in a build with `--features cuda`) runs the same
//! tests on the GPU; the default is the CPU.

use candle_core::{Device, Tensor, Var};
use mmsafe_adversarial::clip::{random_weights, ClipConfig, ClipSurrogate};
use mmsafe_adversarial::{AttackConfig, Attacker, Goal, Mode, Optimizer, Rgb8};
use std::path::Path;

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

fn write_surrogate(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), TINY).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER).unwrap();
    let cfg: ClipConfig = serde_json::from_str(TINY).unwrap();
    let map = random_weights(&cfg, seed, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&map, dir.join("model.safetensors")).unwrap();
}

fn test_device() -> Device {
    let name = std::env::var("MMSAFE_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    mmsafe_adversarial::device(&name).unwrap()
}

fn load(dir: &Path) -> ClipSurrogate {
    ClipSurrogate::load(dir, &test_device()).unwrap()
}

/// A deterministic non-square "photo": smooth gradients plus a few shapes.
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

fn goal_for(mode: Mode) -> Goal {
    match mode {
        Mode::EmbedText => Goal::Text("how to make a bomb".into()),
        Mode::EmbedImage => {
            let mut g = clean_image();
            for (i, b) in g.data.iter_mut().enumerate() {
                *b = ((i * 37) % 256) as u8;
            }
            Goal::Image(g)
        }
        Mode::Untargeted => Goal::AwayFromClean,
    }
}

#[test]
fn adversarial_input_gradient_reaches_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    write_surrogate(tmp.path(), 1);
    let s = load(tmp.path());
    let x = Var::from_tensor(&Tensor::rand(0f32, 1f32, (1, 3, 32, 32), &test_device()).unwrap())
        .unwrap();
    let emb = s.embed_pixels(x.as_tensor()).unwrap();
    let loss = emb.sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let g = grads.get(x.as_tensor()).expect("input gradient must exist");
    let mag = g
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(mag > 0.0, "input gradient is all zeros");
}

#[test]
fn adversarial_each_mode_lowers_loss_within_budget() {
    let tmp = tempfile::tempdir().unwrap();
    write_surrogate(tmp.path(), 2);
    let s = [load(tmp.path())];
    let clean = clean_image();
    for (name, mode) in Mode::ALL {
        let cfg = config(mode, 7);
        let out = Attacker::new(&s, cfg.clone())
            .unwrap()
            .run(&clean, &goal_for(mode))
            .unwrap();
        assert!(
            out.loss_final < out.loss_initial - 0.05,
            "{name}: loss {} -> {} did not drop by a clear margin",
            out.loss_initial,
            out.loss_final
        );
        // Deploy check ran on the saved 8-bit image and stays close to the float result.
        assert!(out.loss_deployed.is_finite());
        assert!(
            (out.loss_deployed - out.loss_final).abs() < 0.1,
            "{name}: deployed {}",
            out.loss_deployed
        );
        let adv = out.adversarial.unwrap();
        let eps8 = (cfg.eps * 255.0).ceil() as i32;
        for (a, c) in adv.data.iter().zip(&clean.data) {
            assert!(
                (*a as i32 - *c as i32).abs() <= eps8,
                "{name}: pixel outside the ε-ball"
            );
        }
        assert!(out.imperceptibility.linf <= cfg.eps + 1.0 / 255.0);
        assert!(out.imperceptibility.psnr > 20.0);
    }
}

#[test]
fn adversarial_l2_and_adam_with_eot() {
    let tmp = tempfile::tempdir().unwrap();
    write_surrogate(tmp.path(), 3);
    let s = [load(tmp.path())];
    let clean = clean_image();
    // The L2 radius is in [0,1] pixel units over the whole image.
    let l2 = AttackConfig {
        optimizer: Optimizer::PgdL2,
        eps: 1.0,
        step: 0.2,
        eot_samples: 3,
        ..config(Mode::EmbedText, 3)
    };
    let out = Attacker::new(&s, l2.clone())
        .unwrap()
        .run(&clean, &goal_for(Mode::EmbedText))
        .unwrap();
    assert!(
        out.loss_final < out.loss_initial,
        "l2: {} -> {}",
        out.loss_initial,
        out.loss_final
    );
    assert!(
        out.imperceptibility.l2 <= l2.eps + 0.05,
        "l2 norm {}",
        out.imperceptibility.l2
    );
    let adam = AttackConfig {
        optimizer: Optimizer::Adam,
        eps: 1.0,
        step: 0.01,
        ..config(Mode::EmbedImage, 4)
    };
    let out = Attacker::new(&s, adam)
        .unwrap()
        .run(&clean, &goal_for(Mode::EmbedImage))
        .unwrap();
    assert!(out.loss_final < out.loss_initial - 0.05);
}

/// Exercised only when `MMSAFE_CLIP_DIR` points at a real CLIP (e.g. ViT-B/32).
#[test]
fn adversarial_real_clip_when_available() {
    let Some(dir) = std::env::var_os("MMSAFE_CLIP_DIR") else {
        eprintln!("skipping: set MMSAFE_CLIP_DIR to a CLIP model directory to run this test");
        return;
    };
    let s = [ClipSurrogate::load(Path::new(&dir), &test_device()).unwrap()];
    let cfg = AttackConfig {
        steps: 5,
        ..config(Mode::EmbedText, 1)
    };
    let out = Attacker::new(&s, cfg)
        .unwrap()
        .run(&clean_image(), &Goal::Text("a photo of a bomb".into()))
        .unwrap();
    assert!(out.loss_final < out.loss_initial);
}

#[test]
fn adversarial_deterministic_for_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    write_surrogate(tmp.path(), 5);
    let s = [load(tmp.path())];
    let clean = clean_image();
    let cfg = AttackConfig {
        steps: 8,
        eot_samples: 2,
        ..config(Mode::Untargeted, 11)
    };
    let a = Attacker::new(&s, cfg.clone())
        .unwrap()
        .run(&clean, &Goal::AwayFromClean)
        .unwrap();
    let b = Attacker::new(&s, cfg.clone())
        .unwrap()
        .run(&clean, &Goal::AwayFromClean)
        .unwrap();
    assert_eq!(a.png, b.png, "same seed must give the same bytes");
    let c = Attacker::new(&s, AttackConfig { seed: 12, ..cfg })
        .unwrap()
        .run(&clean, &Goal::AwayFromClean)
        .unwrap();
    assert_ne!(
        a.png, c.png,
        "a different seed should differ (random start)"
    );
}

#[test]
fn adversarial_ensemble_of_two_surrogates() {
    let tmp = tempfile::tempdir().unwrap();
    write_surrogate(&tmp.path().join("a"), 21);
    write_surrogate(&tmp.path().join("b"), 22);
    let s = [load(&tmp.path().join("a")), load(&tmp.path().join("b"))];
    let out = Attacker::new(
        &s,
        AttackConfig {
            restarts: 2,
            ..config(Mode::EmbedImage, 9)
        },
    )
    .unwrap()
    .run(&clean_image(), &goal_for(Mode::EmbedImage))
    .unwrap();
    assert_eq!(out.similarity_deployed.len(), 2);
    assert!(out.loss_final < out.loss_initial - 0.05);
    for (before, after) in out.similarity_initial.iter().zip(&out.similarity_deployed) {
        assert!(
            after > before,
            "each surrogate moves towards the goal: {before} -> {after}"
        );
    }
}

/// Same weights and pixels on the CPU and on the test device: the loss and the
/// input gradient must agree (trivially on the CPU; the real check under CUDA).
#[test]
fn adversarial_devices_agree_on_loss_and_gradient() {
    let cfg: ClipConfig = serde_json::from_str(TINY).unwrap();
    let a =
        mmsafe_adversarial::parity::agreement(&cfg, 3, 2, (40, 48), &Device::Cpu, &test_device())
            .unwrap();
    assert!((a.loss_a - a.loss_b).abs() < 1e-4, "{a:?}");
    assert!(a.grad_rel_l2 < 1e-3, "{a:?}");
    assert!(a.grad_cosine > 0.9999, "{a:?}");
    assert!(a.grad_sign_agreement > 0.99, "{a:?}");
}

#[test]
fn adversarial_bad_inputs_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing file.
    std::fs::write(tmp.path().join("config.json"), TINY).unwrap();
    let err = ClipSurrogate::load(tmp.path(), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    // Unsupported model type.
    write_surrogate(&tmp.path().join("s"), 1);
    std::fs::write(
        tmp.path().join("s/config.json"),
        TINY.replace("\"clip\"", "\"siglip\""),
    )
    .unwrap();
    let err = ClipSurrogate::load(&tmp.path().join("s"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("siglip") && err.contains("config.json"),
        "{err}"
    );
    // Shape mismatch names the tensor.
    write_surrogate(&tmp.path().join("t"), 1);
    std::fs::write(
        tmp.path().join("t/config.json"),
        TINY.replace("\"projection_dim\": 16", "\"projection_dim\": 8"),
    )
    .unwrap();
    let err = ClipSurrogate::load(&tmp.path().join("t"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("visual_projection.weight"), "{err}");
    // ε outside (0, 1].
    write_surrogate(&tmp.path().join("u"), 1);
    let s = [load(&tmp.path().join("u"))];
    for eps in [0.0, 1.5, -0.1] {
        let err = Attacker::new(
            &s,
            AttackConfig {
                eps,
                ..AttackConfig::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("--eps"), "{err}");
    }
    // Undecodable image.
    let err = Rgb8::decode(b"not an image", "broken.png")
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.png"), "{err}");
}
