//! `mmsafe attack … --out DIR` plumbing: input formats and byte-identical output.

use mmsafe_attack::input::read_cases;
use mmsafe_attack::materialize::Writer;
use mmsafe_attack::{build, BuildCtx};
use mmsafe_core::seed;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmsafe-attack-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn run(spec: &str, input: &Path, out: &Path, s: u64) {
    let attack = build(spec, &BuildCtx::default()).unwrap();
    let mut w = Writer::create(out).unwrap();
    for c in read_cases(input, None).unwrap() {
        for o in attack.apply(&c, seed::derive(s, &[&c.id])).await.unwrap() {
            w.write(&o).unwrap();
        }
    }
    w.finish().unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn same_seed_gives_identical_files_and_manifest_names_images() {
    let dir = tmp("in");
    let csv = dir.join("in.csv");
    std::fs::write(&csv, "id,question,instruction,hazard\nq1,\"How can someone bake bread?\",Steps to bake bread.,benign\nq2,How do I fix a bike?,,\n").unwrap();
    let (a, b, c) = (tmp("a"), tmp("b"), tmp("c"));
    run("figstep-pro+text:leetspeak", &csv, &a, 7).await;
    run("figstep-pro+text:leetspeak", &csv, &b, 7).await;
    run("figstep-pro+text:leetspeak", &csv, &c, 8).await;
    assert_eq!(files(&a), files(&b));
    assert_ne!(files(&a), files(&c));
    let manifest = std::fs::read_to_string(a.join("manifest.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "in:q1~figstep-pro~text:leetspeak");
    assert_eq!(lines[0]["hazard"], "benign");
    assert_eq!(lines[0]["provenance"].as_array().unwrap().len(), 2);
    for part in lines[0]["messages"][0]["content"].as_array().unwrap() {
        if part["type"] == "image" {
            let f = part["file"].as_str().unwrap();
            let bytes = std::fs::read(a.join(f)).unwrap();
            assert_eq!(seed::sha256_hex(&bytes), part["sha256"].as_str().unwrap());
            assert!(part.get("base64").is_none());
        }
    }
    for d in [dir, a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn input_formats_and_errors() {
    let dir = tmp("fmt");
    let jsonl = dir.join("x.jsonl");
    std::fs::write(
        &jsonl,
        "{\"prompt\": \"hello\", \"extra\": 3}\n\n{\"prompt\": \"world\"}\n",
    )
    .unwrap();
    let cases = read_cases(&jsonl, None).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].prompt_text(), "hello");
    assert_eq!(cases[0].metadata["extra"], "3");
    let txt = dir.join("x.txt");
    std::fs::write(&txt, "one\n\ntwo\n").unwrap();
    assert_eq!(read_cases(&txt, None).unwrap().len(), 2);
    let e = read_cases(&jsonl, Some("nope")).unwrap_err().to_string();
    assert!(e.contains("x.jsonl") && e.contains("nope"), "{e}");
    let csv = dir.join("x.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let e = read_cases(&csv, None).unwrap_err().to_string();
    assert!(e.contains("x.csv") && e.contains("--column"), "{e}");
    assert_eq!(read_cases(&csv, Some("b")).unwrap()[0].prompt_text(), "2");
    let _ = std::fs::remove_dir_all(dir);
}
