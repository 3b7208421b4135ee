//! `mmsafe guard train`: fine-tune the `harm` request classifier (MiniLM's
//! top layers, single-text input) on the public prompt sets plus our own
//! look-alikes, reproducibly (same data, seed and threads → same file).

use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_guard::{harm_data, harm_sources};
use std::path::{Path, PathBuf};

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
    #[arg(long, default_value_t = 3)]
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
    /// Per cent of the rows (chosen by a hash of each row's text) kept out of
    /// training as the validation split; after training, the classifier is
    /// scored on it and the thresholds for the presets' targets are printed.
    /// 0 = train on every row.
    #[arg(long, default_value_t = 20)]
    val_percent: u64,
    /// Write the validation scores (label, form, source, score; no texts) here as JSON.
    #[arg(long)]
    val_json: Option<PathBuf>,
    /// Train nothing: score this classifier (a file written by `guard train`,
    /// e.g. the shipped one) on the validation split these flags define, to
    /// compare two classifiers on the same rows.
    #[arg(long, value_name = "FILE")]
    validate: Option<PathBuf>,
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
    let (rows, sources) = harm_sources::training_rows(&a.data, a.max_rows, a.seed)?;
    for s in &sources {
        eprintln!(
            "{}: {} rows ({} harmful)",
            s["spec"].as_str().unwrap_or("?"),
            s["rows"],
            s["harmful"]
        );
    }
    anyhow::ensure!(a.val_percent < 100, "--val-percent must be below 100");
    let (val_rows, rows): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| harm_data::is_validation(r, a.val_percent));
    eprintln!(
        "validation split: {} rows ({} harmful) kept out of training ({}% by a hash of the text)",
        val_rows.len(),
        val_rows.iter().filter(|r| r.harmful).count(),
        a.val_percent
    );
    if let Some(path) = &a.validate {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(
            !val_rows.is_empty(),
            "--validate needs a validation split (--val-percent > 0)"
        );
        validate(&bytes, &val_rows, &a)?;
        return Ok(Outcome::Ok);
    }
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
        "held_out": harm_sources::HELD_OUT,
        "max_rows": a.max_rows,
        "seed": a.seed,
        "finetune_layers": a.layers,
        "epochs": a.epochs,
        "lr": a.lr,
        "batch": a.batch,
        "window_tokens": a.window_tokens,
        "threads": a.threads,
        "val_percent": a.val_percent,
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
    if !val_rows.is_empty() {
        validate(&bytes, &val_rows, &a)?;
    }
    Ok(Outcome::Ok)
}

/// Scores the validation split with the trained classifier, prints recall
/// and FPR by form and group, and the thresholds for the presets' targets.
fn validate(bytes: &[u8], val_rows: &[harm_data::Row], a: &TrainArgs) -> anyhow::Result<()> {
    use mmsafe_guard::harm_val::{
        rates, score_texts, threshold_for_fpr, threshold_for_recall, Scored,
    };
    let started = std::time::Instant::now();
    let scorer =
        mmsafe_local::cross_encoder(bytes, "validation").map_err(|e| anyhow::anyhow!("{e}"))?;
    let val = harm_data::examples(val_rows, a.seed);
    let texts: Vec<&str> = val.iter().map(|e| e.text.as_str()).collect();
    let scores = score_texts(scorer.as_ref(), &texts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let scored: Vec<Scored> = val
        .iter()
        .zip(scores)
        .map(|(e, score)| Scored {
            harmful: e.harmful,
            form: e.form,
            source: e.source.clone(),
            score,
        })
        .collect();
    eprintln!(
        "validation: {} texts scored ({:.0}s)",
        scored.len(),
        started.elapsed().as_secs_f64()
    );
    // Hard negatives: benign rows full of alarming words (ours, XSTest's
    // safe prompts, MOSSBench's benign questions); every harmful row.
    let hard = |s: &&Scored| {
        s.harmful
            || s.source.starts_with("builtin:")
            || s.source.starts_with("xstest")
            || s.source.starts_with("mossbench")
    };
    let groups: Vec<(&str, Vec<&Scored>)> = vec![
        ("all forms, all rows", scored.iter().collect()),
        (
            "image forms, all rows",
            scored.iter().filter(|s| s.form == "image").collect(),
        ),
        (
            "all forms, hard negatives",
            scored.iter().filter(hard).collect(),
        ),
        (
            "image forms, hard negatives",
            scored
                .iter()
                .filter(|s| s.form == "image")
                .filter(hard)
                .collect(),
        ),
        (
            "image forms, our rows only",
            scored
                .iter()
                .filter(|s| s.form == "image" && s.source.starts_with("builtin:"))
                .collect(),
        ),
    ];
    eprintln!("| validation group | harmful | benign | recall@0.5 | FPR@0.5 | t (FPR ≤ 0.10) | recall | FPR | t (recall ≥ 0.97) | recall | FPR |");
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, g) in &groups {
        let owned: Vec<Scored> = g.iter().map(|s| (*s).clone()).collect();
        let (r5, f5, h, b) = rates(&owned, 0.5);
        let (tb, rb, fb) = threshold_for_fpr(&owned, 0.10);
        let (ts, rs, fs) = threshold_for_recall(&owned, 0.97);
        eprintln!(
            "| {name} | {h} | {b} | {r5:.3} | {f5:.3} | {tb:.4} | {rb:.3} | {fb:.3} | {ts:.4} | {rs:.3} | {fs:.3} |"
        );
    }
    if let Some(p) = &a.val_json {
        std::fs::write(p, serde_json::to_string(&scored)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
