//! `mmsafe attack adversarial:<mode>` end to end through the real binary, on a
//! tiny CLIP with seeded random weights saved in the Hugging Face layout.

use std::path::Path;
use std::process::Command;

const TINY: &str = r#"{"model_type":"clip","projection_dim":16,
 "vision_config":{"hidden_size":32,"intermediate_size":64,"num_attention_heads":4,"num_hidden_layers":2,"image_size":32,"patch_size":8},
 "text_config":{"hidden_size":32,"intermediate_size":64,"num_attention_heads":4,"num_hidden_layers":2,"max_position_embeddings":16,"vocab_size":8}}"#;

const TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<unk>":0,"a":1,"photo":2,"of":3,"cat":4,"dog":5,"<|startoftext|>":6,"<|endoftext|>":7},"unk_token":"<unk>"}}"#;

fn surrogate(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), TINY).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER).unwrap();
    let cfg: mmsafe_adversarial::ClipConfig = serde_json::from_str(TINY).unwrap();
    let map = mmsafe_adversarial::clip::random_weights(&cfg, 3, &candle_core::Device::Cpu).unwrap();
    candle_core::safetensors::save(&map, dir.join("model.safetensors")).unwrap();
}

fn photo(path: &Path) {
    let img = image::RgbImage::from_fn(40, 36, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 7) as u8, 90])
    });
    img.save(path).unwrap();
}

fn mmsafe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mmsafe"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

#[test]
fn adversarial_cli_writes_images_and_manifest_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("clip");
    surrogate(&s);
    let img = tmp.path().join("photo.png");
    photo(&img);
    let run = |out: &str| {
        let o = mmsafe(&[
            "attack",
            "adversarial:embed-text",
            "--surrogate",
            s.to_str().unwrap(),
            "--image",
            img.to_str().unwrap(),
            "--target-text",
            "a photo of a cat",
            "--steps",
            "5",
            "--eps",
            "16/255",
            "--step",
            "2/255",
            "--seed",
            "4",
            "--out",
            tmp.path().join(out).to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read_to_string(tmp.path().join(out).join("manifest.jsonl")).unwrap()
    };
    let a = run("a");
    let b = run("b");
    assert_eq!(a, b, "same seed, same manifest (and image hashes)");
    let line: serde_json::Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(line["attack"], "adversarial:embed-text");
    let detail = &line["provenance"][0]["detail"];
    assert!(detail["loss"]["deployed"].as_f64().unwrap().is_finite());
    assert!(detail["imperceptibility"]["linf"].as_f64().unwrap() <= 16.0 / 255.0 + 1e-6);
    assert!(detail["imperceptibility"]["ssim"].as_f64().is_some());
    assert_eq!(line["provenance"][0]["params"]["steps"], "5");
    let file = line["messages"][0]["content"][0]["file"].as_str().unwrap();
    let pa = std::fs::read(tmp.path().join("a").join(file)).unwrap();
    let pb = std::fs::read(tmp.path().join("b").join(file)).unwrap();
    assert_eq!(pa, pb, "same seed, same bytes");
    // What was materialized loads back as a suite for an ordinary scan.
    let spec = format!("manifest:{}", tmp.path().join("a").display());
    let o = mmsafe(&["datasets", "validate", &spec]);
    assert!(
        o.status.success(),
        "validate: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn adversarial_cli_bad_inputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("clip");
    surrogate(&s);
    let img = tmp.path().join("photo.png");
    photo(&img);
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let out = tmp.path().join("out");
    let base = |extra: &[&str]| {
        let mut v = vec![
            "attack",
            "adversarial:untargeted",
            "--out",
            out.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            base(&[
                "--surrogate",
                s.to_str().unwrap(),
                "--image",
                img.to_str().unwrap(),
                "--eps",
                "2",
            ]),
            "--eps",
        ),
        (
            base(&[
                "--surrogate",
                s.to_str().unwrap(),
                "--image",
                broken.to_str().unwrap(),
            ]),
            "broken.png",
        ),
        (
            base(&[
                "--surrogate",
                tmp.path().to_str().unwrap(),
                "--image",
                img.to_str().unwrap(),
            ]),
            "config.json",
        ),
    ];
    for (args, needle) in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = mmsafe(&refs);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    }
    let o = mmsafe(&[
        "attack",
        "adversarial:sideways",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("embed-text"));
}
