//! `mmsafe judge train`: the offline classifier, as a head on frozen
//! embeddings or a fine-tuned cross-encoder; rows and provenance come from
//! `mmsafe_judge::training`.

use super::runtime;
use crate::exit::{ensure_usage, usage, Outcome, UsageError};
use anyhow::Context as _;
use mmsafe_judge::classifier::features;
use mmsafe_judge::labels;
use mmsafe_judge::training::{
    self, FinetuneSettings, HeadSettings, RowSelection, TrainingError, TrainingRows,
};
use std::num::NonZeroUsize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct TrainArgs {
    /// Training data as FORMAT:PATH (harmbench, gptfuzz, xstest or jsonl); a
    /// directory loads every `.csv`/`.json`/`.jsonl` in it. Repeat for more.
    #[arg(long = "data", required = true)]
    pub(super) data: Vec<String>,
    /// Where to write the classifier: a head (JSON), or with --finetune-layers
    /// a `.safetensors` file.
    #[arg(long)]
    pub(super) out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Hidden units of a head (0 = logistic regression) [default: 16].
    #[arg(long)]
    pub(super) hidden: Option<usize>,
    /// Passes over the data [default: 200 for a head, 2 with --finetune-layers].
    #[arg(long)]
    pub(super) epochs: Option<usize>,
    /// Learning rate [default: 0.002 for a head, 0.00003 with --finetune-layers].
    #[arg(long)]
    pub(super) lr: Option<f64>,
    /// AdamW weight decay [default: 0.5 for a head, 0.01 with --finetune-layers].
    #[arg(long)]
    pub(super) weight_decay: Option<f64>,
    /// Fine-tune the top K layers of MiniLM as a cross-encoder over
    /// (request, reply) instead of training a head on frozen embeddings;
    /// `--out` then gets a `.safetensors` file for `classifier:FILE`.
    #[arg(long, value_name = "K")]
    pub(super) finetune_layers: Option<usize>,
    /// Fine-tuning: rows per step.
    #[arg(long, default_value_t = 16)]
    pub(super) batch: usize,
    /// Fine-tuning: linear warm-up steps before the linear decay.
    #[arg(long, default_value_t = 50)]
    pub(super) warmup: usize,
    /// Fine-tuning: compute threads.
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    pub(super) threads: NonZeroUsize,
    /// Fine-tuning: train on up to N windows of each long reply (each with
    /// the row's label and weight); 1 = the first window only.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(super) train_windows: usize,
    /// Fine-tuning: tokens per (request, reply) sequence, up to MiniLM's
    /// 512 positions; the file records it and the judge reads replies in
    /// windows of this length.
    #[arg(long, default_value_t = mmsafe_local::cross::MAX_TOKENS, value_name = "N")]
    pub(super) window_tokens: usize,
    /// Fine-tuning: save the run's state to `OUT.ckpt` every N steps (0:
    /// only when stopped by Ctrl-C or SIGTERM). Re-running the same command
    /// continues from it and ends with the same file as an unbroken run.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub(super) checkpoint_every: usize,
    /// Keep at most N rows of a data file or format, a seeded sample:
    /// NAME=N where NAME is a file name (`train.csv`) or a format (repeatable).
    #[arg(long = "max-rows")]
    pub(super) max_rows: Vec<String>,
    /// Leave out this share of behaviours/questions (a fixed hash split) so
    /// `judge eval --holdout` can measure on unseen ones.
    #[arg(long, default_value_t = 0.0)]
    pub(super) holdout: f64,
    /// Also write the feature rows (little-endian f32, row-major) to FILE and
    /// one JSON line per row (source file, group, label) to FILE.jsonl, for
    /// grouped cross-validation outside mmsafe.
    #[arg(long)]
    pub(super) dump_features: Option<PathBuf>,
    /// Leave a feature block out of the head: request, opening, reply or
    /// interaction (repeatable).
    #[arg(long = "drop")]
    pub(super) drop: Vec<String>,
    /// Weigh the rows of one training format: FORMAT=W (repeatable; default 1).
    #[arg(long = "weight")]
    pub(super) weight: Vec<String>,
    /// Let the `refusal` rule judge decide clear refusals; the head decides the rest.
    #[arg(long)]
    pub(super) rule_gate: bool,
}

pub(super) fn block_columns(block: &str, dim: usize) -> anyhow::Result<std::ops::Range<usize>> {
    features::block_columns(block, dim).ok_or_else(|| {
        UsageError(format!(
            "--drop `{block}`: expected request, opening, reply or interaction"
        ))
        .into()
    })
}

fn dump_features(
    path: &std::path::Path,
    items: &[labels::Labeled],
    x: &[Vec<f32>],
) -> anyhow::Result<()> {
    let mut raw = Vec::with_capacity(x.len() * x.first().map_or(0, Vec::len) * 4);
    for v in x.iter().flatten() {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, raw).with_context(|| format!("writing {}", path.display()))?;
    let mut index = String::new();
    for it in items {
        let file = it.location.split(':').next().unwrap_or_default();
        index.push_str(&serde_json::to_string(&serde_json::json!({
            "file": file,
            "group": it.group,
            "harmful": it.harmful(),
            "response_chars": it.response.chars().count(),
        }))?);
        index.push('\n');
    }
    let index_path = path.with_extension("jsonl");
    std::fs::write(&index_path, index)
        .with_context(|| format!("writing {}", index_path.display()))?;
    Ok(())
}

pub(super) fn train(a: TrainArgs) -> anyhow::Result<Outcome> {
    ensure_usage!(
        (0.0..1.0).contains(&a.holdout),
        "--holdout must be in [0, 1), got {}",
        a.holdout
    );
    for block in &a.drop {
        block_columns(block, 1)?;
    }
    if let Err(m) = mmsafe_local::cross::check_window(a.window_tokens) {
        return usage(format!("--window-tokens: {m}"));
    }
    ensure_usage!(
        a.finetune_layers.is_some()
            || (a.window_tokens == mmsafe_local::cross::MAX_TOKENS && a.train_windows == 1),
        "--window-tokens and --train-windows apply to --finetune-layers only"
    );
    // Before minutes of training, not after.
    let out_dir = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    ensure_usage!(
        out_dir.is_dir(),
        "--out {}: the folder {} does not exist",
        a.out.display(),
        out_dir.display()
    );
    let sel = RowSelection {
        data: a.data.clone(),
        holdout: a.holdout,
        max_rows: a.max_rows.clone(),
        weight: a.weight.clone(),
        seed: a.seed,
    };
    let rows = training::load_rows(&sel, |f| {
        eprintln!(
            "{}: {} rows ({} harmful, {} held out, {} left out by --max-rows)",
            f.path.display(),
            f.rows,
            f.harmful,
            f.held_out,
            f.sampled_out
        )
    })
    .map_err(training_error)?;
    match a.finetune_layers {
        Some(layers) => finetune(&a, layers, &sel, rows),
        None => train_head(&a, &sel, rows),
    }
}

/// A bad training option is a usage error; unreadable data is not.
pub(super) fn training_error(e: TrainingError) -> anyhow::Error {
    match e {
        TrainingError::Option(m) => UsageError(m).into(),
        TrainingError::Data(m) => anyhow::anyhow!(m),
    }
}

fn finetune(
    a: &TrainArgs,
    layers: usize,
    sel: &RowSelection,
    rows: TrainingRows,
) -> anyhow::Result<Outcome> {
    use mmsafe_local::cross::train::{self as ft, FinetuneConfig, Progress};
    ensure_usage!(
        a.hidden.is_none() && a.drop.is_empty() && !a.rule_gate && a.dump_features.is_none(),
        "--hidden, --drop, --rule-gate and --dump-features apply to a head, not to --finetune-layers \
         (a fine-tuned classifier always lets the refusal rule decide clear refusals)"
    );
    let defaults = FinetuneConfig::default();
    let cfg = FinetuneConfig {
        layers,
        epochs: a.epochs.unwrap_or(defaults.epochs),
        lr: a.lr.unwrap_or(defaults.lr),
        weight_decay: a.weight_decay.unwrap_or(defaults.weight_decay),
        warmup: a.warmup,
        batch: a.batch,
        seed: a.seed,
        windows: a.train_windows,
        window_tokens: a.window_tokens,
        ..defaults
    };
    let examples: Vec<ft::Example> = rows
        .items
        .iter()
        .zip(&rows.weights)
        .map(|(it, w)| ft::Example {
            request: it.request.clone(),
            reply: it.response.clone(),
            harmful: it.harmful(),
            weight: *w,
        })
        .collect();
    let provenance = training::finetune_provenance(
        &rows,
        sel,
        &FinetuneSettings {
            layers,
            epochs: cfg.epochs,
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            warmup: cfg.warmup,
            batch: cfg.batch,
            dropout: cfg.dropout,
            clip_norm: cfg.clip_norm,
            threads: a.threads.get(),
            windows: cfg.windows,
            window_tokens: cfg.window_tokens,
            default_window_tokens: defaults.window_tokens,
        },
    );
    crate::wiring::models::ensure(&[mmsafe_local::models::catalog::MINILM])?;
    let base = mmsafe_local::minilm_dir().map_err(|e| anyhow::anyhow!("{e}"))?;
    let compute = mmsafe_local::Compute::new(a.threads.get());
    let started = std::time::Instant::now();
    let checkpoint = checkpoint_path(&a.out);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The runtime only hosts the signal listener; it lives until training ends.
    let rt = runtime()?;
    rt.spawn(stop_on_signal(stop.clone()));
    let checkpointing = ft::Checkpointing {
        path: &checkpoint,
        every: a.checkpoint_every,
        stop: Some(&stop),
    };
    let result = ft::finetune(
        &base,
        &examples,
        &cfg,
        &compute,
        &provenance,
        Some(&checkpointing),
        |p| match p {
            Progress::Frozen { done, total } if done == total || done % 1024 < 32 => eprintln!(
                "frozen layers: {done}/{total} sequences ({:.0}s)",
                started.elapsed().as_secs_f64()
            ),
            Progress::Resumed { step, total } => eprintln!(
                "resuming from {} after step {step}/{total}",
                checkpoint.display()
            ),
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
    );
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e @ mmsafe_local::LocalError::Stopped { .. }) => {
            eprintln!("{e}: run the same command again to continue");
            return Ok(Outcome::Interrupted);
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} rows, {:.1} MB, {:.0}s)",
        a.out.display(),
        examples.len(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Ok)
}

/// `model.safetensors` → `model.safetensors.ckpt`, beside the output.
fn checkpoint_path(out: &std::path::Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".ckpt");
    PathBuf::from(name)
}

/// Ctrl-C (or SIGTERM, as CI runners send) asks training to save and stop
/// after the current step; a second Ctrl-C quits at once.
async fn stop_on_signal(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        r = tokio::signal::ctrl_c() => if r.is_err() { return },
        _ = term => {}
    }
    eprintln!("stopping after this step and saving a checkpoint… (Ctrl-C again to quit at once)");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(i32::from(crate::exit::INTERRUPTED));
    }
}

fn train_head(a: &TrainArgs, sel: &RowSelection, rows: TrainingRows) -> anyhow::Result<Outcome> {
    let (items, weights) = (&rows.items, &rows.weights);
    let hidden = a.hidden.unwrap_or(16);
    let (epochs, lr, weight_decay) = (
        a.epochs.unwrap_or(200),
        a.lr.unwrap_or(2e-3),
        a.weight_decay.unwrap_or(0.5),
    );
    let (embedder, cache) = crate::wiring::judges::classifier_embedder()?;
    let started = std::time::Instant::now();
    let n = items.len();
    let (x, y) = mmsafe_judge::classifier::featurize(embedder.as_ref(), items, 256, |done| {
        // Save as we go: a killed training run keeps the vectors it computed.
        if let Some(cache) = &cache {
            if let Err(e) = cache.save() {
                eprintln!("warning: {e}");
            }
        }
        if done % 1024 < 256 || done == n {
            eprintln!(
                "embedded {done}/{n} ({:.0}s)",
                started.elapsed().as_secs_f64()
            );
        }
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(path) = &a.dump_features {
        dump_features(path, items, &x)?;
    }
    let dim = embedder.dim();
    let mut drop = Vec::new();
    for block in &a.drop {
        drop.extend(block_columns(block, dim)?);
    }
    let cfg = mmsafe_judge::classifier::train::TrainConfig {
        hidden,
        epochs,
        lr,
        weight_decay,
        seed: a.seed,
        drop,
        gate: a.rule_gate.then(|| features::rule_refused_index(dim)),
    };
    let provenance = training::head_provenance(
        &rows,
        sel,
        &HeadSettings {
            hidden,
            epochs,
            lr,
            weight_decay,
            drop: a.drop.clone(),
            rule_gate: a.rule_gate,
        },
    );
    let head = mmsafe_judge::classifier::train::train_weighted(
        &x,
        &y,
        weights,
        &cfg,
        embedder.name(),
        embedder.dim(),
        provenance,
    )?;
    let train_acc = x
        .iter()
        .zip(&y)
        .filter(|(f, l)| (head.predict(f) >= head.threshold) == **l)
        .count() as f64
        / x.len() as f64;
    let body = serde_json::to_string(&head)?;
    std::fs::write(&a.out, body + "\n").with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} rows, training accuracy {:.1}%, {:.0}s)",
        a.out.display(),
        x.len(),
        100.0 * train_acc,
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Ok)
}
