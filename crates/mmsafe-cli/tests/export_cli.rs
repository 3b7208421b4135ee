//! `mmsafe export sft|dpo` as a user runs it: the real binary on a store built
//! through the store API (the same fixture as the export library's tests).

#[path = "../../mmsafe-export/tests/common/mod.rs"]
mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn mmsafe(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MMSAFE_STORE")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("mmsafe-test-cache"),
        )
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Content of the fixture (prompts, responses, refusals) must never reach the terminal.
fn assert_no_content(o: &Output) {
    for s in [text(&o.stdout), text(&o.stderr)] {
        for needle in [
            "PLACEHOLDER",
            "COMPLIED",
            "ANSWER",
            "REFUSAL",
            "GUARD BLOCK",
            "text 988",
        ] {
            assert!(
                !s.contains(needle),
                "`{needle}` leaked to the terminal:\n{s}"
            );
        }
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn sft_llava_with_images_json_counts_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let fx = common::build(&db);
    let db = db.to_str().unwrap();
    let images = dir.path().join("images");
    let run = |out: &Path| {
        mmsafe(&[
            "export",
            "sft",
            "--store",
            db,
            "--run",
            "undefended",
            "--run",
            &fx.defended,
            "--out",
            out.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--format",
            "llava",
            "--include-benign",
            "--json",
        ])
    };
    let out = dir.path().join("sft.jsonl");
    let o = run(&out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_no_content(&o);

    let counts: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(counts["task"], "sft");
    assert_eq!(counts["format"], "llava");
    assert_eq!(counts["attempts"], 14);
    assert_eq!(counts["emitted"], 4);
    assert_eq!(counts["by_kind"]["refusal"], 2);
    assert_eq!(counts["skipped_by_reason"]["target_error"], 1);
    assert_eq!(counts["skipped_by_reason"]["undecided"], 1);
    assert_eq!(counts["skipped_by_reason"]["judges_disagree"], 1);
    assert_eq!(counts["skipped_by_reason"]["truncated_answer"], 1);
    assert_eq!(counts["images"], 2);
    assert_eq!(counts["images_written"], 2);
    let skipped_report = dir.path().join("sft.skipped.jsonl");
    assert_eq!(counts["skipped_report"], skipped_report.to_str().unwrap());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("exported 4 sft examples (llava)"),
        "{stderr}"
    );
    assert!(stderr.contains("judges_disagree 1"), "{stderr}");

    // Image files are named by the sha256 of their bytes; the lines refer to them.
    let mut names: Vec<String> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in &names {
        let bytes = std::fs::read(images.join(n)).unwrap();
        assert_eq!(format!("{}.png", mmsafe_core::seed::sha256_hex(&bytes)), *n);
    }
    let mut expected: Vec<String> = [&fx.images[1], &fx.images[2]]
        .iter()
        .map(|i| format!("{}.png", i.sha256()))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let ls = lines(&out);
    assert_eq!(ls.len(), 4);
    for l in &ls {
        assert!(l["conversations"].as_array().unwrap().len() >= 2);
        assert_eq!(
            l["conversations"].as_array().unwrap().last().unwrap()["from"],
            "gpt"
        );
        if let Some(img) = l.get("image") {
            assert!(names.contains(&img.as_str().unwrap().to_string()));
            assert!(l["conversations"][0]["value"]
                .as_str()
                .unwrap()
                .contains("<image>"));
        }
    }
    assert_eq!(
        lines(&skipped_report).len() as u64,
        counts["skipped"].as_u64().unwrap()
    );

    // Same inputs, same bytes; the second time no image is rewritten.
    let out2 = dir.path().join("sft2.jsonl");
    let o2 = run(&out2);
    assert!(o2.status.success());
    let counts2: Value = serde_json::from_slice(&o2.stdout).unwrap();
    assert_eq!(counts2["images_written"], 0);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn dpo_openai_pairs_and_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let fx = common::build(&db);
    let db = db.to_str().unwrap();
    let out = dir.path().join("pairs.jsonl");
    let o = mmsafe(&[
        "export",
        "dpo",
        "--store",
        db,
        "--run",
        "undefended",
        "--run",
        "defended",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_no_content(&o);
    assert!(o.stdout.is_empty(), "no --json, nothing on stdout");
    let ls = lines(&out);
    assert_eq!(ls.len(), 3);
    for l in &ls {
        assert_eq!(l["preferred_output"][0]["role"], "assistant");
        assert_eq!(l["non_preferred_output"][0]["role"], "assistant");
        assert!(l["input"]["messages"].as_array().unwrap().len() == 1);
        assert!(l["meta"]["rejected"]["attempt_key"].is_string());
    }
    let b2 = &ls[0];
    assert_eq!(b2["meta"]["kind"], "benign_pair");
    assert_eq!(b2["meta"]["chosen"]["run_id"], fx.defended.as_str());
    assert_eq!(b2["meta"]["rejected"]["run_id"], fx.undefended.as_str());

    let sample = |seed: &str, out: &Path| {
        let o = mmsafe(&[
            "export",
            "dpo",
            "--store",
            db,
            "--run",
            "undefended",
            "--run",
            "defended",
            "--out",
            out.to_str().unwrap(),
            "--max",
            "1",
            "--seed",
            seed,
            "--no-meta",
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let c: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(c["emitted"], 1);
        assert_eq!(c["skipped_by_reason"]["sampled_out"], 2);
        std::fs::read(out).unwrap()
    };
    let a = sample("5", &dir.path().join("a.jsonl"));
    let b = sample("5", &dir.path().join("b.jsonl"));
    assert_eq!(a, b);
    let line: Value = serde_json::from_slice(&a).unwrap();
    assert!(line.get("meta").is_none());
}

#[test]
fn bad_inputs_name_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    common::build(&db);
    let db = db.to_str().unwrap();
    let out = dir.path().join("x.jsonl");
    let out_s = out.to_str().unwrap();

    let o = mmsafe(&[
        "export", "sft", "--store", db, "--run", "nope-run", "--out", out_s,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("nope-run"), "{}", text(&o.stderr));

    let bad = dir.path().join("no-such-dir").join("x.jsonl");
    let o = mmsafe(&[
        "export",
        "sft",
        "--store",
        db,
        "--run",
        "undefended",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(bad.to_str().unwrap()),
        "{}",
        text(&o.stderr)
    );
    assert_no_content(&o);

    let o = mmsafe(&[
        "export", "sft", "--store", db, "--run", "defended", "--out", out_s, "--judge", "llm",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("`llm`"), "{}", text(&o.stderr));

    let toml = dir.path().join("t.toml");
    std::fs::write(&toml, "not_a_hazard = \"x\"\n").unwrap();
    let o = mmsafe(&[
        "export",
        "sft",
        "--store",
        db,
        "--run",
        "undefended",
        "--out",
        out_s,
        "--refusal-template",
        toml.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("t.toml") && e.contains("not_a_hazard"), "{e}");

    let missing = dir.path().join("missing.db");
    let o = mmsafe(&[
        "export",
        "sft",
        "--store",
        missing.to_str().unwrap(),
        "--run",
        "x",
        "--out",
        out_s,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("missing.db"));
    assert!(!out.exists(), "failed exports leave no output");
}

/// Two SafeBench-format rows with the mock's trigger words: the plain text is
/// refused, the FigStep image variant (which the mock cannot read) complies.
const CSV: &str = "dataset,category_id,task_id,category_name,question,instruction\r\n\
SafeBench,1,1,Illegal Activity,Placeholder question about hack one?,Placeholder steps hack one.\r\n\
SafeBench,5,1,Fraud,Placeholder question about counterfeit two?,Placeholder steps counterfeit two.\r\n";

/// A store written by a real `mmsafe scan` (loopback mock target, FigStep
/// attack, refusal judge) exports as the fixture does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_from_a_real_scan() {
    use mmsafe_testkit::{MockConfig, MockServer, Reply, REFUSAL_TEXT};
    let server = MockServer::start(MockConfig::default().reply(Reply::refuse_harmful()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("safebench.csv");
    std::fs::write(&csv, CSV).unwrap();
    let db = dir.path().join("runs.db").display().to_string();
    let suite = format!("figstep:{}", csv.display());
    let target = server.target_spec();
    let images = dir.path().join("images");
    let sft = dir.path().join("sft.jsonl");
    let dpo = dir.path().join("dpo.jsonl");
    let (images_s, sft_s, dpo_s) = (
        images.display().to_string(),
        sft.display().to_string(),
        dpo.display().to_string(),
    );
    let outs = tokio::task::spawn_blocking(move || {
        let scan = mmsafe(&[
            "scan",
            "--target",
            &target,
            "--suite",
            &suite,
            "--attack",
            "none",
            "--attack",
            "figstep",
            "--store",
            &db,
            "--run-name",
            "red",
            "--no-cache",
        ]);
        let sft = mmsafe(&[
            "export", "sft", "--store", &db, "--run", "red", "--out", &sft_s, "--format",
            "sharegpt", "--images", &images_s, "--json",
        ]);
        let dpo = mmsafe(&[
            "export", "dpo", "--store", &db, "--run", "red", "--out", &dpo_s, "--json",
        ]);
        (scan, sft, dpo)
    })
    .await
    .unwrap();
    let (scan, sft_o, dpo_o) = outs;
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    assert!(sft_o.status.success(), "{}", text(&sft_o.stderr));
    assert!(dpo_o.status.success(), "{}", text(&dpo_o.stderr));
    assert_no_content(&sft_o);
    assert_no_content(&dpo_o);

    let c: Value = serde_json::from_slice(&sft_o.stdout).unwrap();
    assert_eq!(c["attempts"], 4);
    assert_eq!(c["by_kind"]["refusal"], 2, "{c}");
    assert_eq!(c["not_selected"]["harmful_refused"], 2, "{c}");
    assert_eq!(c["images_written"], 2);
    for l in lines(&sft) {
        assert_eq!(l["meta"]["attack_chain"], "figstep");
        assert!(!l["meta"]["base_case_id"]
            .as_str()
            .unwrap()
            .contains("figstep"));
        let name = l["images"][0].as_str().unwrap();
        let bytes = std::fs::read(images.join(name)).unwrap();
        assert_eq!(
            format!("{}.png", mmsafe_core::seed::sha256_hex(&bytes)),
            name
        );
        assert!(image::load_from_memory(&bytes).is_ok(), "a real PNG");
        assert!(l["conversations"][0]["value"]
            .as_str()
            .unwrap()
            .contains("<image>"));
        assert_eq!(l["conversations"][1]["from"], "gpt");
    }

    // DPO: the chosen side is the model's own judged refusal of the plain
    // request (same base case, attack `none`).
    let c: Value = serde_json::from_slice(&dpo_o.stdout).unwrap();
    assert_eq!(c["by_kind"]["harmful_pair"], 2, "{c}");
    assert_eq!(c["answers_from"]["response"], 2, "{c}");
    for l in lines(&dpo) {
        assert_eq!(l["preferred_output"][0]["content"], REFUSAL_TEXT);
        assert_eq!(l["meta"]["chosen"]["attack"], "none");
        assert_eq!(l["meta"]["chosen"]["case_id"], l["meta"]["base_case_id"]);
        assert_ne!(l["non_preferred_output"][0]["content"], REFUSAL_TEXT);
    }
    server.shutdown().await;
}
