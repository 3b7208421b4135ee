//! Fine-tuning the top layers of MiniLM as a cross-encoder harm classifier.
//!
//! The bottom (frozen) layers run once per example and their outputs are
//! kept in memory, so each step costs only the trained layers' forward and
//! backward passes. Batches are length-sorted (little padding) and visited
//! in a seeded order; weights, head and dropout masks come from seeded
//! streams, so the same data, seed and thread count give the same file.

use super::adamw::AdamW;
use super::bert::{self, Dropout, Weights};
use super::checkpoint::{self, Checkpoint};
use super::{load_base, pad_batch, Card, Encoded};
use crate::error::LocalError;
use crate::threads::Compute;
use candle_core::{DType, Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// One labelled (request, reply) pair.
#[derive(Debug, Clone)]
pub struct Example {
    pub request: String,
    pub reply: String,
    pub harmful: bool,
    /// Loss weight (positive).
    pub weight: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    /// Top encoder layers trained (1..=6); the rest stay frozen.
    pub layers: usize,
    pub epochs: usize,
    /// Peak learning rate (AdamW).
    pub lr: f64,
    pub weight_decay: f64,
    /// Linear warm-up steps, then linear decay to zero at the last step.
    pub warmup: usize,
    pub batch: usize,
    pub dropout: f32,
    /// Gradients are rescaled when their global L2 norm exceeds this.
    pub clip_norm: f64,
    pub seed: u64,
    /// Train on up to this many windows of each reply (each with the row's
    /// label and weight), as the judge reads up to [`super::WINDOWS`]; 1 =
    /// the first window only.
    pub windows: usize,
    /// Tokens per training sequence (the file records it, and the judge
    /// reads replies in windows of the same length).
    pub window_tokens: usize,
}

/// The shipped `classifier`'s recipe.
impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            layers: 6,
            epochs: 2,
            lr: 3e-5,
            weight_decay: 0.01,
            warmup: 50,
            batch: 16,
            dropout: 0.1,
            clip_norm: 1.0,
            seed: 0,
            windows: 1,
            window_tokens: super::MAX_TOKENS,
        }
    }
}

/// Where a run is, for progress lines.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Frozen layers computed for this many training sequences (one per
    /// example and window).
    Frozen { done: usize, total: usize },
    /// Continuing from a checkpoint after `step` of `total` steps.
    Resumed { step: usize, total: usize },
    /// A training step finished; `loss` is a running mean over recent steps.
    Step {
        epoch: usize,
        step: usize,
        total: usize,
        loss: f32,
    },
}

fn err(e: candle_core::Error) -> LocalError {
    LocalError::model("fine-tuning", e)
}

/// Learning-rate factor at 0-based `step` of `total`.
fn schedule(step: usize, total: usize, warmup: usize) -> f64 {
    let up = ((step + 1) as f64 / warmup.max(1) as f64).min(1.0);
    let down = (1.0 - step as f64 / total.max(1) as f64).max(0.0);
    up * down
}

/// Weighted binary cross-entropy on logits, in the overflow-free form
/// max(z, 0) − z·y + ln(1 + e^−|z|), normalised by the weights' sum.
fn weighted_bce(z: &Tensor, y: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    let per_row = ((z.relu()? - (z * y)?)? + softplus)?;
    (per_row * w)?.sum_all()? / w.sum_all()?.to_scalar::<f32>()? as f64
}

/// Frozen-layer output of each example: `len × HIDDEN` values, row-major.
fn frozen_states(
    weights: &Weights,
    encoded: &[Encoded],
    first_trained: usize,
    compute: &Compute,
    progress: &mut impl FnMut(Progress),
) -> Result<Vec<Vec<f32>>, LocalError> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| encoded[i].ids.len());
    let mut out = vec![Vec::new(); encoded.len()];
    let mut done = 0;
    for chunk in order.chunks(32) {
        let rows: Vec<&Encoded> = chunk.iter().map(|&i| &encoded[i]).collect();
        let states = compute
            .run(|| -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
                let (ids, types, mask) = pad_batch(&rows, &Device::Cpu)?;
                let attn = bert::attention_mask(&mask)?;
                let mut h = bert::embed(weights, &ids, &types)?;
                for l in 0..first_trained {
                    h = bert::layer(weights, l, &h, &attn, None)?;
                }
                h.to_vec3::<f32>()
            })
            .map_err(err)?;
        for ((&i, row), s) in chunk.iter().zip(&rows).zip(states) {
            out[i] = s.into_iter().take(row.ids.len()).flatten().collect();
        }
        done += chunk.len();
        progress(Progress::Frozen {
            done,
            total: encoded.len(),
        });
    }
    Ok(out)
}

/// A padded batch of cached states with its 0/1 mask.
fn state_batch(states: &[&Vec<f32>]) -> candle_core::Result<(Tensor, Tensor)> {
    let t = states
        .iter()
        .map(|s| s.len() / bert::HIDDEN)
        .max()
        .unwrap_or(1);
    let mut h = Vec::with_capacity(states.len() * t * bert::HIDDEN);
    let mut mask = Vec::with_capacity(states.len() * t);
    for s in states {
        let n = s.len() / bert::HIDDEN;
        h.extend_from_slice(s);
        h.extend(std::iter::repeat_n(0f32, (t - n) * bert::HIDDEN));
        mask.extend(std::iter::repeat_n(1u32, n).chain(std::iter::repeat_n(0, t - n)));
    }
    Ok((
        Tensor::from_vec(h, (states.len(), t, bert::HIDDEN), &Device::Cpu)?,
        Tensor::from_vec(mask, (states.len(), t), &Device::Cpu)?,
    ))
}

/// Saving a run as it goes, so a stopped or killed run can continue.
pub struct Checkpointing<'a> {
    /// The checkpoint file. A run that finds one of its own here continues
    /// from it; the file is removed when the run finishes.
    pub path: &'a Path,
    /// Save after every this many steps (and when stopped).
    pub every: usize,
    /// When set (by a Ctrl-C handler, say), save after the current step and
    /// return [`LocalError::Stopped`].
    pub stop: Option<&'a AtomicBool>,
}

/// Fine-tune on `examples`, returning the file's bytes (safetensors, f16,
/// with a [`Card`] whose provenance is `provenance`).
pub fn finetune(
    base_dir: &Path,
    examples: &[Example],
    cfg: &FinetuneConfig,
    compute: &Compute,
    provenance: &serde_json::Value,
    checkpointing: Option<&Checkpointing>,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<u8>, LocalError> {
    let bad = |m: String| LocalError::model("fine-tuning", m);
    if !(1..=bert::LAYERS).contains(&cfg.layers) {
        return Err(bad(format!(
            "layers must be 1..={}, got {}",
            bert::LAYERS,
            cfg.layers
        )));
    }
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(bad("batch and epochs must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&cfg.dropout) {
        return Err(bad(format!(
            "dropout must be in [0, 1), got {}",
            cfg.dropout
        )));
    }
    if examples.iter().all(|e| e.harmful) || examples.iter().all(|e| !e.harmful) {
        return Err(bad("the examples are all one class (or none)".into()));
    }
    if let Some(i) = examples
        .iter()
        .position(|e| !(e.weight.is_finite() && e.weight > 0.0))
    {
        return Err(bad(format!(
            "example {i}: weight must be positive and finite"
        )));
    }
    if cfg.windows == 0 {
        return Err(bad("windows must be at least 1".into()));
    }
    let (mut weights, tokenizer) = load_base(base_dir)?;
    let tokenizer = tokenizer.with_window(cfg.window_tokens).map_err(bad)?;
    // One training sequence per window; `source[k]` is its example.
    let mut encoded = Vec::with_capacity(examples.len());
    let mut source = Vec::with_capacity(examples.len());
    for (i, e) in examples.iter().enumerate() {
        let windows = tokenizer
            .encode_windows(&e.request, &e.reply, cfg.windows)
            .map_err(|m| bad(format!("example {i}: {m}")))?;
        source.extend(std::iter::repeat_n(i, windows.len()));
        encoded.extend(windows);
    }
    let first_trained = bert::LAYERS - cfg.layers;
    let states = frozen_states(&weights, &encoded, first_trained, compute, &mut progress)?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let bound = 1.0 / (bert::HIDDEN as f32).sqrt();
    let head_w: Vec<f32> = (0..bert::HIDDEN)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    let head_b = rng.random_range(-bound..bound);
    weights.insert(
        bert::HEAD_WEIGHT.into(),
        Tensor::from_vec(head_w, (1, bert::HIDDEN), &Device::Cpu).map_err(err)?,
    );
    weights.insert(
        bert::HEAD_BIAS.into(),
        Tensor::from_vec(vec![head_b], 1, &Device::Cpu).map_err(err)?,
    );
    let mut trained: Vec<String> = (first_trained..bert::LAYERS)
        .flat_map(bert::layer_tensor_names)
        .collect();
    trained.extend([bert::HEAD_WEIGHT.to_string(), bert::HEAD_BIAS.to_string()]);
    let mut vars = Vec::with_capacity(trained.len());
    for name in &trained {
        let t = weights
            .get(name)
            .ok_or_else(|| bad(format!("base model lacks `{name}`")))?;
        let v = Var::from_tensor(t).map_err(err)?;
        weights.insert(name.clone(), v.as_tensor().clone());
        vars.push(v);
    }
    let mut opt = AdamW::new(vars.clone(), cfg.lr, cfg.weight_decay).map_err(err)?;

    let mut by_len: Vec<usize> = (0..encoded.len()).collect();
    by_len.sort_by_key(|&i| states[i].len());
    let mut batches: Vec<Vec<usize>> = by_len.chunks(cfg.batch).map(<[usize]>::to_vec).collect();
    let total = batches.len() * cfg.epochs;
    let mut dropout = Dropout::new(cfg.dropout, cfg.seed.wrapping_add(1));

    let fingerprint = run_fingerprint(examples, cfg, compute, provenance);
    let mut resume_at = 0;
    if let Some(c) = checkpointing.filter(|c| c.path.exists()) {
        let saved = Checkpoint::load(c.path, &trained)?;
        if saved.fingerprint != fingerprint {
            return Err(bad(format!(
                "{} was saved by a run with other data or settings; delete it to start over",
                c.path.display()
            )));
        }
        let moments = saved
            .tensors
            .iter()
            .map(|(_, _, m, v)| (m.clone(), v.clone()))
            .collect::<Vec<_>>();
        for (v, (_, w, _, _)) in vars.iter().zip(&saved.tensors) {
            v.set(w).map_err(err)?;
        }
        opt.restore(saved.step, &moments).map_err(err)?;
        dropout.set_position(saved.dropout_pos);
        resume_at = saved.step;
        progress(Progress::Resumed {
            step: resume_at,
            total,
        });
    }
    let save = |opt: &AdamW, dropout: &Dropout, path: &Path| -> Result<(), LocalError> {
        let tensors = trained
            .iter()
            .zip(&vars)
            .zip(opt.moments())
            .map(|((name, v), (m, s))| (name.clone(), v.as_tensor().clone(), m.clone(), s.clone()))
            .collect();
        Checkpoint {
            fingerprint: fingerprint.clone(),
            step: opt.steps(),
            dropout_pos: dropout.position(),
            tensors,
        }
        .save(path)
    };

    let mut recent = std::collections::VecDeque::with_capacity(50);
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        // The order is replayed from the seed even for epochs a resumed run
        // skips: each epoch shuffles the previous epoch's order.
        batches.shuffle(&mut rng);
        for batch in &batches {
            if step < resume_at {
                step += 1;
                continue;
            }
            let loss = compute
                .run(|| -> candle_core::Result<f32> {
                    let rows: Vec<&Vec<f32>> = batch.iter().map(|&i| &states[i]).collect();
                    let (mut h, mask) = state_batch(&rows)?;
                    let attn = bert::attention_mask(&mask)?;
                    for l in first_trained..bert::LAYERS {
                        h = bert::layer(&weights, l, &h, &attn, Some(&mut dropout))?;
                    }
                    let z = bert::head_logits(&weights, &h, &mask)?;
                    let y: Vec<f32> = batch
                        .iter()
                        .map(|&k| {
                            if examples[source[k]].harmful {
                                1.0
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let w: Vec<f32> = batch.iter().map(|&k| examples[source[k]].weight).collect();
                    let n = batch.len();
                    let loss = weighted_bce(
                        &z,
                        &Tensor::from_vec(y, n, &Device::Cpu)?,
                        &Tensor::from_vec(w, n, &Device::Cpu)?,
                    )?;
                    let mut grads = loss.backward()?;
                    let mut sq = 0f64;
                    for v in &vars {
                        if let Some(g) = grads.get(v.as_tensor()) {
                            sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
                        }
                    }
                    let norm = sq.sqrt();
                    if norm > cfg.clip_norm {
                        let scale = cfg.clip_norm / norm;
                        for v in &vars {
                            if let Some(g) = grads.remove(v.as_tensor()) {
                                grads.insert(v.as_tensor(), (g * scale)?);
                            }
                        }
                    }
                    opt.set_learning_rate(cfg.lr * schedule(step, total, cfg.warmup));
                    opt.step(&grads)?;
                    loss.to_scalar::<f32>()
                })
                .map_err(err)?;
            if !loss.is_finite() {
                return Err(bad(format!("loss became {loss} at step {step}")));
            }
            if recent.len() == 50 {
                recent.pop_front();
            }
            recent.push_back(loss);
            step += 1;
            progress(Progress::Step {
                epoch: epoch + 1,
                step,
                total,
                loss: recent.iter().sum::<f32>() / recent.len() as f32,
            });
            if let Some(c) = checkpointing {
                let stop = c.stop.is_some_and(|s| s.load(Ordering::Relaxed));
                if stop || (c.every > 0 && step % c.every == 0 && step < total) {
                    save(&opt, &dropout, c.path)?;
                }
                if stop {
                    return Err(LocalError::Stopped {
                        checkpoint: c.path.to_path_buf(),
                        step,
                        total,
                    });
                }
            }
        }
    }

    let mut out = std::collections::HashMap::new();
    for (name, v) in trained.iter().zip(&vars) {
        out.insert(
            name.clone(),
            v.as_tensor().to_dtype(DType::F16).map_err(err)?,
        );
    }
    let card = Card {
        base: crate::models::catalog::MINILM.to_string(),
        first_trained_layer: first_trained,
        provenance: provenance.to_string(),
        window: cfg.window_tokens,
    };
    // Sorted names: the same weights always serialise to the same bytes.
    let mut named: Vec<(String, Tensor)> = out.into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = safetensors::serialize(named, Some(card.to_metadata()))
        .map_err(|e| bad(format!("writing weights: {e}")))?;
    if let Some(c) = checkpointing.filter(|c| c.path.exists()) {
        std::fs::remove_file(c.path).map_err(|e| LocalError::io(c.path, e))?;
    }
    Ok(bytes)
}

/// Names one run: the examples, the recipe, the thread count (it changes
/// the floating-point sums) and the provenance the file will carry.
fn run_fingerprint(
    examples: &[Example],
    cfg: &FinetuneConfig,
    compute: &Compute,
    provenance: &serde_json::Value,
) -> String {
    let mut data = Vec::new();
    for e in examples {
        for part in [e.request.as_bytes(), e.reply.as_bytes()] {
            data.extend((part.len() as u64).to_le_bytes());
            data.extend(part);
        }
        data.push(u8::from(e.harmful));
        data.extend(e.weight.to_le_bytes());
    }
    checkpoint::fingerprint(&[
        &data,
        format!("{cfg:?}").as_bytes(),
        &compute.threads().to_le_bytes(),
        provenance.to_string().as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((schedule(0, 100, 10) - 0.1).abs() < 1e-9);
        assert!((schedule(9, 100, 10) - 0.91).abs() < 1e-9);
        assert!(schedule(50, 100, 10) > schedule(60, 100, 10));
        assert!(schedule(99, 100, 10) > 0.0);
        assert_eq!(schedule(100, 100, 10), 0.0);
    }

    #[test]
    fn weighted_bce_matches_the_formula() {
        let dev = Device::Cpu;
        let z = Tensor::new(&[2.0f32, -1.0, 40.0], &dev).unwrap();
        let y = Tensor::new(&[1.0f32, 0.0, 0.0], &dev).unwrap();
        let w = Tensor::new(&[1.0f32, 3.0, 1.0], &dev).unwrap();
        let got = weighted_bce(&z, &y, &w)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let bce = |z: f32, y: f32| {
            -(y * (1.0 / (1.0 + (-z).exp())).ln()
                + (1.0 - y) * (1.0 - 1.0 / (1.0 + (-z).exp())).ln())
        };
        let want = (bce(2.0, 1.0) + 3.0 * bce(-1.0, 0.0) + 40.0) / 5.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
}
