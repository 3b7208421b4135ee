//! The export library against a real SQLite store built through the store API.

mod common;

use mmsafe_export::{export, ExportError, ExportOptions, Format, SelectOptions, Task, Templates};
use mmsafe_store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn opts(task: Task, runs: &[&str], format: Format) -> ExportOptions {
    ExportOptions {
        runs: runs.iter().map(|s| s.to_string()).collect(),
        judge: None,
        select: SelectOptions {
            task,
            include_benign: false,
            allow_truncated: false,
            templates: Templates::built_in(),
            seed: 0,
            max: None,
        },
        format,
        images: None,
        meta: true,
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn setup() -> (tempfile::TempDir, Store, common::Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let fx = common::build(&db);
    let store = Store::open(&db).unwrap();
    (dir, store, fx)
}

#[test]
fn sft_llava_counts_images_and_pairing() {
    let (dir, store, fx) = setup();
    let out = dir.path().join("sft.jsonl");
    let skipped = dir.path().join("sft.skipped.jsonl");
    let mut o = opts(Task::Sft, &["undefended", "defended"], Format::Llava);
    o.images = Some(dir.path().join("images"));
    let c = export(&store, &o, &out, Some(&skipped)).unwrap();

    assert_eq!(c.runs, vec![fx.undefended.clone(), fx.defended.clone()]);
    assert_eq!(c.attempts, 14);
    assert_eq!(c.by_kind, map(&[("over_refusal_fix", 1), ("refusal", 2)]));
    assert_eq!(
        c.skipped_by_reason,
        map(&[
            ("duplicate", 1),
            ("judges_disagree", 1),
            ("no_good_answer", 2),
            ("target_error", 1),
            ("undecided", 1),
        ])
    );
    assert_eq!(
        c.not_selected,
        map(&[("benign_answered", 3), ("harmful_refused", 2)])
    );
    // Every attempt is accounted for exactly once.
    assert_eq!(
        c.emitted + c.skipped + c.not_selected.values().sum::<u64>(),
        c.attempts
    );
    assert_eq!(c.answers_from, map(&[("response", 1), ("template", 2)]));
    assert_eq!((c.images, c.images_written), (1, 1));

    let ls = lines(&out);
    let ids: Vec<&str> = ls
        .iter()
        .map(|l| l["meta"]["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b2", "h1~figstep", "h2"], "sorted by case id");

    // Over-refusal corrected with the other run's judged answer, never invented.
    let b2 = &ls[0];
    assert_eq!(b2["meta"]["kind"], "over_refusal_fix");
    let conv = b2["conversations"].as_array().unwrap();
    assert_eq!(conv[0]["from"], "human");
    assert_eq!(conv[0]["value"], "PLACEHOLDER prompt b2");
    assert_eq!(conv[1]["from"], "gpt");
    assert_eq!(conv[1]["value"], "ANSWER b2 defended");
    assert_eq!(b2["meta"]["answer"]["source"], "response");
    assert_eq!(b2["meta"]["answer"]["run_id"], fx.defended.as_str());
    assert_eq!(
        b2["meta"]["answer"]["attempt_key"],
        fx.key(&fx.defended, "b2", "none", "ocr", 0).as_str()
    );
    assert_eq!(b2["meta"]["run_id"], fx.undefended.as_str());
    assert!(b2.get("image").is_none());

    // Attack success → template refusal for the hazard, image by sha256 file.
    let h1 = &ls[1];
    assert_eq!(h1["meta"]["kind"], "refusal");
    assert_eq!(h1["meta"]["attack_chain"], "figstep");
    assert_eq!(h1["meta"]["base_case_id"], "h1");
    assert_eq!(h1["meta"]["hazard"], "violent_crimes");
    assert_eq!(h1["meta"]["judges"][0]["judge"], "refusal");
    assert_eq!(h1["meta"]["judges"][0]["label"], "complied");
    assert_eq!(h1["meta"]["answer"]["template"], "violent_crimes#0");
    let sha = fx.images[1].sha256();
    assert_eq!(h1["image"], format!("{sha}.png").as_str());
    assert_eq!(
        h1["conversations"][0]["value"],
        "<image>\nPLACEHOLDER figstep instruction"
    );
    let bytes = std::fs::read(dir.path().join("images").join(format!("{sha}.png"))).unwrap();
    assert_eq!(mmsafe_core::seed::sha256_hex(&bytes), sha);
    assert_eq!(
        std::fs::read_dir(dir.path().join("images"))
            .unwrap()
            .count(),
        1
    );

    let h2 = &ls[2];
    assert!(h2["conversations"][1]["value"]
        .as_str()
        .unwrap()
        .contains("988"));

    // Skipped report: ids and reasons, no content, duplicates point at the kept one.
    let sk = lines(&skipped);
    assert_eq!(sk.len(), 6);
    let text = std::fs::read_to_string(&skipped).unwrap();
    assert!(!text.contains("PLACEHOLDER") && !text.contains("COMPLIED"));
    let dup = sk.iter().find(|s| s["reason"] == "duplicate").unwrap();
    assert_eq!(dup["case_id"], "h1~figstep");
    assert_eq!(
        dup["duplicate_of"],
        h1["meta"]["attempt_key"].as_str().unwrap()
    );
    let ngas: Vec<&str> = sk
        .iter()
        .filter(|s| s["reason"] == "no_good_answer")
        .map(|s| s["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(ngas, ["b3", "b4"], "b4's only answer was truncated");

    // A second export into the same folder rewrites nothing.
    let again = export(&store, &o, &dir.path().join("sft2.jsonl"), None).unwrap();
    assert_eq!(again.images_written, 0);
}

#[test]
fn output_is_deterministic_and_independent_of_run_order() {
    let (dir, store, _fx) = setup();
    let mut outs = Vec::new();
    for (i, runs) in [
        ["undefended", "defended"],
        ["defended", "undefended"],
        ["undefended", "defended"],
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("o{i}.jsonl"));
        let mut o = opts(Task::Dpo, runs, Format::Sharegpt);
        o.images = Some(dir.path().join("img"));
        export(&store, &o, &out, None).unwrap();
        outs.push(std::fs::read(&out).unwrap());
    }
    assert!(!outs[0].is_empty());
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn include_benign_and_truncation() {
    let (dir, store, fx) = setup();
    let out = dir.path().join("sft.jsonl");
    let mut o = opts(Task::Sft, &["undefended", "defended"], Format::Openai);
    o.select.include_benign = true;
    let c = export(&store, &o, &out, None).unwrap();
    // b1 and the defended run's b2 answer; the b2 over-refusal fix would be the
    // same line as that benign example (same prompt, same answer): one is kept.
    assert_eq!(c.emitted, 4);
    assert_eq!(
        c.by_kind,
        map(&[("benign", 1), ("over_refusal_fix", 1), ("refusal", 2)])
    );
    assert_eq!(c.skipped_by_reason["duplicate"], 2);
    assert_eq!(c.skipped_by_reason["truncated_answer"], 1);
    let ls = lines(&out);
    let b1 = ls.iter().find(|l| l["meta"]["case_id"] == "b1").unwrap();
    let msgs = b1["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "user");
    let parts = msgs[0]["content"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text");
    assert_eq!(parts[1]["type"], "image_url");
    assert_eq!(
        parts[1]["image_url"]["url"].as_str().unwrap(),
        fx.images[2].data_url()
    );
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"], "ANSWER b1");
    // Text-only user turns stay plain strings.
    let b2 = ls.iter().find(|l| l["meta"]["case_id"] == "b2").unwrap();
    assert_eq!(b2["messages"][0]["content"], "PLACEHOLDER prompt b2");

    // --allow-truncated makes the cut-off answer usable, for both b4 attempts.
    o.select.allow_truncated = true;
    let c = export(&store, &o, &out, None).unwrap();
    assert_eq!(c.emitted, 5, "b4's cut-off answer now counts");
    assert!(!c.skipped_by_reason.contains_key("truncated_answer"));
    assert_eq!(c.skipped_by_reason["no_good_answer"], 1, "only b3 is left");
}

#[test]
fn dpo_pairs_on_base_case_with_provenance() {
    let (dir, store, fx) = setup();
    let out = dir.path().join("dpo.jsonl");
    let o = opts(Task::Dpo, &["undefended", "defended"], Format::Openai);
    let c = export(&store, &o, &out, None).unwrap();
    assert_eq!(c.by_kind, map(&[("benign_pair", 1), ("harmful_pair", 2)]));
    assert_eq!(c.answers_from, map(&[("response", 2), ("template", 1)]));
    let ls = lines(&out);
    let ids: Vec<&str> = ls
        .iter()
        .map(|l| l["meta"]["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b2", "h1~figstep", "h2"]);

    let b2 = &ls[0];
    assert_eq!(b2["preferred_output"][0]["content"], "ANSWER b2 defended");
    assert_eq!(b2["non_preferred_output"][0]["content"], "REFUSAL b2");
    assert_eq!(
        b2["input"]["messages"][0]["content"],
        "PLACEHOLDER prompt b2"
    );

    // The chosen refusal is the judged refusal to the same attacked prompt in
    // the other run (a guard block), preferred over the base case's refusal.
    let h1 = &ls[1];
    assert_eq!(
        h1["preferred_output"][0]["content"],
        "GUARD BLOCK h1~figstep"
    );
    assert_eq!(
        h1["non_preferred_output"][0]["content"],
        "COMPLIED h1~figstep"
    );
    assert_eq!(h1["meta"]["chosen"]["run_id"], fx.defended.as_str());
    assert_eq!(h1["meta"]["chosen"]["finish_reason"], "guard_blocked");
    assert_eq!(h1["meta"]["chosen"]["defense"], "ocr");
    assert_eq!(h1["meta"]["rejected"]["run_id"], fx.undefended.as_str());
    // Repeats 0 and 1 are identical: the one with the smaller key is kept.
    let k0 = fx.key(&fx.undefended, "h1~figstep", "figstep", "none", 0);
    let k1 = fx.key(&fx.undefended, "h1~figstep", "figstep", "none", 1);
    assert_eq!(h1["meta"]["rejected"]["attempt_key"], k0.min(k1).as_str());
    let img = &h1["input"]["messages"][0]["content"][0];
    assert_eq!(img["type"], "image_url");
    assert!(img["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));

    // No judged refusal anywhere → the template is chosen.
    let h2 = &ls[2];
    assert_eq!(h2["meta"]["chosen"]["source"], "template");
    assert_eq!(h2["meta"]["chosen"]["template"], "suicide_self_harm#0");
    assert_eq!(h2["non_preferred_output"][0]["content"], "COMPLIED h2");

    // Only the undefended run: h1~figstep's chosen falls back to the base
    // case's refusal (same base case id, different attack).
    let o = opts(Task::Dpo, &["undefended"], Format::Openai);
    export(&store, &o, &out, None).unwrap();
    let ls = lines(&out);
    let h1 = ls
        .iter()
        .find(|l| l["meta"]["case_id"] == "h1~figstep")
        .unwrap();
    assert_eq!(
        h1["preferred_output"][0]["content"],
        "REFUSAL h1 undefended"
    );
    assert_eq!(h1["meta"]["chosen"]["case_id"], "h1");
    assert!(ls.iter().all(|l| l["meta"]["case_id"] != "b2"));
}

#[test]
fn named_judge_settles_disagreement_and_must_exist() {
    let (dir, store, fx) = setup();
    let out = dir.path().join("sft.jsonl");
    let mut o = opts(Task::Sft, &["undefended", "defended"], Format::Openai);
    o.judge = Some("refusal".into());
    let c = export(&store, &o, &out, None).unwrap();
    assert_eq!(c.by_kind["refusal"], 3, "h5 now counts as complied");
    assert!(!c.skipped_by_reason.contains_key("judges_disagree"));

    o.judge = Some("llm".into());
    let e = export(&store, &o, &out, None).unwrap_err().to_string();
    assert!(
        e.contains(&fx.defended) && e.contains("`llm`") && e.contains("refusal"),
        "{e}"
    );
}

#[test]
fn sampling_is_seeded() {
    let (dir, store, _fx) = setup();
    let pick = |seed: u64| {
        let out = dir.path().join(format!("s{seed}.jsonl"));
        let mut o = opts(Task::Sft, &["undefended", "defended"], Format::Openai);
        o.select.include_benign = true;
        o.select.max = Some(2);
        o.select.seed = seed;
        let c = export(&store, &o, &out, None).unwrap();
        assert_eq!(c.emitted, 2);
        assert_eq!(c.skipped_by_reason["sampled_out"], 2);
        std::fs::read_to_string(&out).unwrap()
    };
    assert_eq!(pick(1), pick(1));
    let distinct: std::collections::HashSet<String> = (0..8).map(pick).collect();
    assert!(distinct.len() > 1, "the seed changes the sample");
}

#[test]
fn custom_templates_and_bad_inputs() {
    let (dir, store, _fx) = setup();
    let out = dir.path().join("sft.jsonl");
    let toml = dir.path().join("refusals.toml");
    std::fs::write(
        &toml,
        "suicide_self_harm = \"Placeholder support message.\"\n",
    )
    .unwrap();
    let mut o = opts(Task::Sft, &["undefended"], Format::Openai);
    o.select.templates = Templates::from_toml_file(&toml).unwrap();
    export(&store, &o, &out, None).unwrap();
    let h2 = lines(&out)
        .into_iter()
        .find(|l| l["meta"]["case_id"] == "h2")
        .unwrap();
    assert_eq!(h2["messages"][1]["content"], "Placeholder support message.");

    // Unknown run: the error names it.
    let o = opts(Task::Sft, &["no-such-run"], Format::Openai);
    let e = export(&store, &o, &out, None).unwrap_err().to_string();
    assert!(e.contains("no-such-run"), "{e}");

    // Unwritable output: the error names the path, and nothing is left behind.
    let bad = dir.path().join("missing-dir").join("x.jsonl");
    let o = opts(Task::Sft, &["undefended"], Format::Openai);
    let e = export(&store, &o, &bad, None).unwrap_err();
    assert!(matches!(e, ExportError::Io { .. }));
    assert!(e.to_string().contains(&bad.display().to_string()), "{e}");

    // A failed image-format export leaves neither output nor an images folder.
    let mut o = opts(Task::Sft, &["undefended"], Format::Llava);
    o.images = Some(dir.path().join("never"));
    assert!(export(&store, &o, &bad, None).is_err());
    assert!(!dir.path().join("never").exists());
    assert!(!bad.exists());

    // The skipped report may not overwrite the output.
    let o = opts(Task::Sft, &["undefended"], Format::Openai);
    assert!(matches!(
        export(&store, &o, &out, Some(&out)),
        Err(ExportError::SamePath { .. })
    ));

    // Image formats need a folder when there are images; openai does not take one.
    let o = opts(Task::Sft, &["undefended"], Format::Llava);
    let e = export(&store, &o, &out, None).unwrap_err().to_string();
    assert!(e.contains("--images"), "{e}");
    let mut o = opts(Task::Sft, &["undefended"], Format::Openai);
    o.images = Some(dir.path().join("i"));
    assert!(matches!(
        export(&store, &o, &out, None),
        Err(ExportError::ImagesDirUnused)
    ));
}

#[test]
fn pool_shares_cases_and_images_across_attempts_and_runs() {
    use mmsafe_export::{JudgeRule, Pool};
    use std::sync::Arc;
    let (_dir, store, _fx) = setup();
    let runs = vec!["undefended".to_string(), "defended".to_string()];
    let pool = Pool::load(&store, &runs, &JudgeRule::Agree).unwrap();
    let h1f: Vec<_> = pool
        .items
        .iter()
        .filter(|i| i.case.id == "h1~figstep")
        .collect();
    assert_eq!(h1f.len(), 3);
    assert!(pool
        .items
        .windows(2)
        .all(|w| (&w[0].case.id, &w[0].key) < (&w[1].case.id, &w[1].key)));
    let bytes = |i: &mmsafe_export::Item| i.case.images().next().unwrap().shared_bytes();
    // Both repeats in one run share the case; the other run shares the image bytes.
    let same_run: Vec<_> = h1f.iter().filter(|i| i.run_id == h1f[0].run_id).collect();
    if same_run.len() == 2 {
        assert!(Arc::ptr_eq(&same_run[0].case, &same_run[1].case));
    }
    for i in &h1f {
        assert!(Arc::ptr_eq(&bytes(i), &bytes(h1f[0])));
    }
}
