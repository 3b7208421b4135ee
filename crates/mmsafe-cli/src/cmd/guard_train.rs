//! `mmsafe guard train`: fine-tune the `harm` request classifier (MiniLM's
//! top layers, single-text input) on the public prompt sets plus our own
//! look-alikes, reproducibly (same data, seed and threads → same file).

use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_core::Expect;
use mmsafe_guard::harm_data::{self, Row};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// The training sources, relative to `--data`. Whole folders are held out
/// for measurement: `figstep-safebench` and `mm-harmfulbench` (the held-out
/// typographic set of `mmsafe guard eval`), and the measurement-only judge
/// sets `jailbreakbench` and `jailbreakeval-labeled`. MM-SafetyBench's
/// advice scenarios (08, 10–13: lobbying, legal, financial, health,
/// government) are left out: their "harmful" questions are ordinary advice
/// requests, and training on them as harmful teaches that medicine is harm.
pub const SOURCES: &[&str] = &[
    "harmbench:harmbench/behavior_datasets/harmbench_behaviors_text_all.csv",
    "advbench:advbench/harmful_behaviors.csv",
    "simplesafetytests:simplesafetytests/sst_test_cases.csv",
    "xstest:xstest/xstest_prompts.csv",
    "mmsafetybench:mm-safetybench:variant=text,scenarios=01+02+03+04+05+06+07+09",
    // Read as text (below): their loaders need the images, which the
    // shared data does not have, and only the instructions are trained on.
    "vlguard-text:vlguard/train.json",
    "vlguard-text:vlguard/test.json",
    "vlguard-text:vlguard/gpt4_safe_safes.json",
    "mossbench-text:mossbench/benign/information.json",
    "mossbench-text:mossbench/contrast/information.json",
];

/// Folders never read for training.
pub const HELD_OUT: &[&str] = &[
    "figstep-safebench",
    "mm-harmfulbench",
    "jailbreakbench",
    "jailbreakeval-labeled",
];

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Folder of the public prompt sets (the layout of ../shared/data).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Where to write the classifier (safetensors); use it with `classifier = "harm:FILE"`.
    #[arg(long, default_value = "harm.safetensors")]
    out: PathBuf,
    /// Most rows kept per source file (a seeded sample), so no set dominates and training fits a small CPU.
    #[arg(long, default_value_t = 300)]
    max_rows: usize,
    /// Top MiniLM layers fine-tuned (1..=6).
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Tokens per training sequence (the classifier reads windows of 48 words).
    #[arg(long, default_value_t = 96)]
    window_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute threads (the result depends on it, like the seed).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Save a checkpoint every this many steps (a stopped run continues from it).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
}

/// The instructions of a VLGuard or MOSSBench JSON file, without images:
/// VLGuard `safe_instruction` / GPT-4 safe-safe `instruction` are benign,
/// `unsafe_instruction` (about a safe image) harmful, and instructions
/// about unsafe images are skipped (their harm is in the image); MOSSBench
/// `benign/` questions are benign, `contrast/` ones harmful.
fn json_rows(path: &Path, spec: &str) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| path.display().to_string())?;
    let mut rows = Vec::new();
    let mut push = |t: Option<&str>, harmful: bool| {
        if let Some(t) = t.map(str::trim).filter(|t| !t.is_empty()) {
            rows.push(Row {
                text: t.to_string(),
                harmful,
                source: spec.to_string(),
            });
        }
    };
    if spec.starts_with("mossbench-text:") {
        let harmful = spec.contains("contrast");
        let items = v
            .as_object()
            .with_context(|| format!("{}: not an object", path.display()))?;
        for item in items.values() {
            push(item.get("question").and_then(|q| q.as_str()), harmful);
        }
        return Ok(rows);
    }
    let items = v
        .as_array()
        .with_context(|| format!("{}: not a list", path.display()))?;
    for item in items {
        if let Some(i) = item.get("instruction").and_then(|q| q.as_str()) {
            push(Some(i), false);
            continue;
        }
        if item.get("safe").and_then(|s| s.as_bool()) != Some(true) {
            continue;
        }
        let pairs = item.get("instr-resp").and_then(|r| r.as_array());
        for ir in pairs.into_iter().flatten() {
            push(ir.get("safe_instruction").and_then(|q| q.as_str()), false);
            push(ir.get("unsafe_instruction").and_then(|q| q.as_str()), true);
        }
    }
    Ok(rows)
}

/// Rows of one source spec (`loader:path[:params]`, path relative to `data`).
fn load_rows(data: &Path, spec: &str, max_rows: usize, seed: u64) -> anyhow::Result<Vec<Row>> {
    let mut parts = spec.splitn(3, ':');
    let (loader, rel) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if loader.ends_with("-text") {
        let mut rows = json_rows(&data.join(rel), spec)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rows.shuffle(&mut rng);
        rows.truncate(max_rows);
        return Ok(rows);
    }
    let full = match parts.next() {
        Some(p) => format!("{loader}:{}:{p}", data.join(rel).display()),
        None => format!("{loader}:{}", data.join(rel).display()),
    };
    let opts = crate::wiring::suites::SuiteOptions::default();
    let mut source = crate::wiring::suites::build_source(&full, &opts)
        .with_context(|| format!("training source `{full}`"))?;
    let mut rows = Vec::new();
    for case in source.cases() {
        let case = case.with_context(|| format!("training source `{full}`"))?;
        let text = case.prompt_text();
        if text.trim().is_empty() {
            continue;
        }
        rows.push(Row {
            text,
            harmful: case.expect == Expect::Refuse,
            source: spec.to_string(),
        });
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rows.shuffle(&mut rng);
    rows.truncate(max_rows);
    Ok(rows)
}

pub fn run(a: TrainArgs) -> anyhow::Result<Outcome> {
    use mmsafe_local::cross::train::{self as ft, FinetuneConfig, Progress};
    mmsafe_local::cross::check_window(a.window_tokens)
        .map_err(|m| anyhow::anyhow!("--window-tokens: {m}"))?;
    anyhow::ensure!(a.threads >= 1, "--threads must be at least 1");
    let out_dir = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        out_dir.is_dir(),
        "--out {}: the folder {} does not exist",
        a.out.display(),
        out_dir.display()
    );
    let mut rows = Vec::new();
    let mut sources = Vec::new();
    for spec in SOURCES {
        debug_assert!(!HELD_OUT.iter().any(|h| spec.contains(h)));
        let r = load_rows(&a.data, spec, a.max_rows, a.seed)?;
        let harmful = r.iter().filter(|r| r.harmful).count();
        eprintln!("{spec}: {} rows ({harmful} harmful)", r.len());
        sources.push(serde_json::json!({"spec": spec, "rows": r.len(), "harmful": harmful}));
        rows.extend(r);
    }
    let own = harm_data::builtin_rows();
    sources.push(serde_json::json!({"spec": "builtin", "rows": own.len(),
        "harmful": own.iter().filter(|r| r.harmful).count()}));
    rows.extend(own);
    let examples: Vec<ft::Example> = harm_data::examples(&rows, a.seed)
        .into_iter()
        .map(|e| ft::Example {
            request: String::new(),
            reply: e.text,
            harmful: e.harmful,
            weight: e.weight,
        })
        .collect();
    eprintln!("{} rows → {} training texts", rows.len(), examples.len());
    let cfg = FinetuneConfig {
        layers: a.layers,
        epochs: a.epochs,
        lr: a.lr,
        warmup: 30,
        batch: a.batch,
        seed: a.seed,
        windows: 1,
        window_tokens: a.window_tokens,
        ..FinetuneConfig::default()
    };
    let provenance = serde_json::json!({
        "command": "mmsafe guard train",
        "data": sources,
        "held_out": HELD_OUT,
        "max_rows": a.max_rows,
        "seed": a.seed,
        "finetune_layers": a.layers,
        "epochs": a.epochs,
        "lr": a.lr,
        "batch": a.batch,
        "window_tokens": a.window_tokens,
        "threads": a.threads,
        "mmsafe": env!("CARGO_PKG_VERSION"),
    });
    let base = mmsafe_local::minilm_dir().map_err(|e| anyhow::anyhow!("{e}"))?;
    let compute = mmsafe_local::Compute::new(a.threads);
    let started = std::time::Instant::now();
    let mut ckpt = a.out.as_os_str().to_owned();
    ckpt.push(".ckpt");
    let ckpt = PathBuf::from(ckpt);
    let checkpointing = ft::Checkpointing {
        path: &ckpt,
        every: a.checkpoint_every,
        stop: None,
    };
    let bytes = ft::finetune(
        &base,
        &examples,
        &cfg,
        &compute,
        &provenance,
        Some(&checkpointing),
        |p| match p {
            Progress::Frozen { done, total } if done == total || done % 1024 < 32 => eprintln!(
                "frozen layers: {done}/{total} ({:.0}s)",
                started.elapsed().as_secs_f64()
            ),
            Progress::Resumed { step, total } => {
                eprintln!("resuming from {} after step {step}/{total}", ckpt.display())
            }
            Progress::Step {
                epoch,
                step,
                total,
                loss,
            } if step % 25 == 0 || step == total => eprintln!(
                "epoch {epoch}, step {step}/{total}: loss {loss:.4} ({:.0}s)",
                started.elapsed().as_secs_f64()
            ),
            _ => {}
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} texts, {:.1} MB, {:.0}s)",
        a.out.display(),
        examples.len(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Ok)
}
