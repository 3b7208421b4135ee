//! Training the head: standardise features, then full-batch AdamW on the
//! logistic loss with candle (autograd on CPU). Weights start from a ChaCha
//! stream seeded by the caller, so a rerun with the same data, seed and
//! thread count writes the same file.

use super::head::Head;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden units; 0 trains a logistic regression.
    pub hidden: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Feature columns the head may not use (their weights stay zero).
    pub drop: Vec<usize>,
    /// Written into the head: a 0/1 feature that forces a refusal ([`Head::gate`]).
    pub gate: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: 16,
            epochs: 200,
            lr: 2e-3,
            weight_decay: 0.5,
            seed: 0,
            drop: Vec::new(),
            gate: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training data: {0}")]
    Data(String),
    #[error("training: {0}")]
    Candle(#[from] candle_core::Error),
}

fn uniform(rng: &mut rand_chacha::ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// Weighted mean binary cross-entropy on logits in the overflow-free form
/// max(z, 0) − z·y + ln(1 + e^−|z|) (candle's version takes log of a sigmoid,
/// which is −∞ for saturated logits). `w` has mean 1.
fn bce_with_logits(z: &Tensor, y: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = ((z.abs()?.neg()?.exp()? + 1.0)?).log()?;
    (((z.relu()? - (z * y)?)? + softplus)? * w)?.mean_all()
}

/// Train a head on feature rows `x` with harm labels `y`, every row weighing the same.
pub fn train(
    x: &[Vec<f32>],
    y: &[bool],
    cfg: &TrainConfig,
    embedder: &str,
    dim: usize,
    provenance: serde_json::Value,
) -> Result<Head, TrainError> {
    train_weighted(x, y, &vec![1.0; y.len()], cfg, embedder, dim, provenance)
}

/// Train a head with a positive weight per row (e.g. to keep a small data
/// set from being drowned by a large one).
pub fn train_weighted(
    x: &[Vec<f32>],
    y: &[bool],
    weights: &[f32],
    cfg: &TrainConfig,
    embedder: &str,
    dim: usize,
    provenance: serde_json::Value,
) -> Result<Head, TrainError> {
    let n = x.len();
    if n == 0 || n != y.len() || n != weights.len() {
        return Err(TrainError::Data(format!(
            "{n} feature rows for {} labels and {} weights",
            y.len(),
            weights.len()
        )));
    }
    if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(TrainError::Data(
            "row weights must be positive and finite".into(),
        ));
    }
    let f = x[0].len();
    if x.iter().any(|r| r.len() != f) {
        return Err(TrainError::Data("feature rows differ in length".into()));
    }
    if let Some(c) = cfg.drop.iter().chain(&cfg.gate).find(|c| **c >= f) {
        return Err(TrainError::Data(format!(
            "feature column {c} out of range ({f} features)"
        )));
    }
    if y.iter().all(|v| *v) || y.iter().all(|v| !*v) {
        return Err(TrainError::Data("labels are all one class".into()));
    }
    let mut mean = vec![0f64; f];
    let mut var = vec![0f64; f];
    for r in x {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for r in x {
        for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
            *s += (f64::from(*v) - m).powi(2);
        }
    }
    let std: Vec<f32> = var
        .iter()
        .map(|s| {
            let sd = (s / n as f64).sqrt() as f32;
            if sd > 1e-6 {
                sd
            } else {
                1.0
            }
        })
        .collect();
    let mean: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
    // Dropped columns enter as zeros, so their weights get no gradient and
    // are set to exactly zero after training.
    let mut keep = vec![1f32; f];
    for c in &cfg.drop {
        keep[*c] = 0.0;
    }
    let mut flat = Vec::with_capacity(n * f);
    for r in x {
        flat.extend(
            r.iter()
                .zip(mean.iter().zip(&std))
                .zip(&keep)
                .map(|((v, (m, s)), k)| k * super::head::standardize(*v, *m, *s)),
        );
    }
    let wsum: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    let ws = Tensor::from_vec(
        weights
            .iter()
            .map(|w| (f64::from(*w) * n as f64 / wsum) as f32)
            .collect::<Vec<_>>(),
        (n, 1),
        &Device::Cpu,
    )?;
    let dev = Device::Cpu;
    let xs = Tensor::from_vec(flat, (n, f), &dev)?;
    let ys = Tensor::from_vec(
        y.iter()
            .map(|v| if *v { 1f32 } else { 0f32 })
            .collect::<Vec<_>>(),
        (n, 1),
        &dev,
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let h = cfg.hidden;
    let out_in = if h == 0 { f } else { h };
    let w1 = Var::from_tensor(&Tensor::from_vec(
        uniform(&mut rng, h * f, (6.0 / (f + h.max(1)) as f32).sqrt()),
        (h, f),
        &dev,
    )?)?;
    let b1 = Var::from_tensor(&Tensor::zeros(h, DType::F32, &dev)?)?;
    let w2 = Var::from_tensor(&Tensor::from_vec(
        uniform(&mut rng, out_in, (6.0 / (out_in + 1) as f32).sqrt()),
        (1, out_in),
        &dev,
    )?)?;
    let b2 = Var::from_tensor(&Tensor::zeros(1, DType::F32, &dev)?)?;
    let vars = if h == 0 {
        vec![w2.clone(), b2.clone()]
    } else {
        vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()]
    };
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let forward = |xs: &Tensor| -> candle_core::Result<Tensor> {
        let hid = if h == 0 {
            xs.clone()
        } else {
            xs.matmul(&w1.as_tensor().t()?)?
                .broadcast_add(b1.as_tensor())?
                .relu()?
        };
        hid.matmul(&w2.as_tensor().t()?)?
            .broadcast_add(b2.as_tensor())
    };
    for _ in 0..cfg.epochs {
        let logits = forward(&xs)?;
        let loss = bce_with_logits(&logits, &ys, &ws)?;
        opt.backward_step(&loss)?;
    }
    let to_vec = |v: &Var| -> candle_core::Result<Vec<f32>> {
        v.as_tensor().flatten_all()?.to_vec1::<f32>()
    };
    let zero_dropped = |mut w: Vec<f32>| {
        for (i, v) in w.iter_mut().enumerate() {
            *v *= keep[i % f];
        }
        w
    };
    Ok(Head {
        format: Head::FORMAT,
        embedder: embedder.to_string(),
        dim,
        features: f,
        mean,
        std,
        w1: if h == 0 {
            Vec::new()
        } else {
            zero_dropped(to_vec(&w1)?)
        },
        b1: if h == 0 { Vec::new() } else { to_vec(&b1)? },
        w2: if h == 0 {
            zero_dropped(to_vec(&w2)?)
        } else {
            to_vec(&w2)?
        },
        b2: to_vec(&b2)?[0],
        threshold: 0.5,
        gate: cfg.gate,
        provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two noisy clusters; both model kinds must separate them, reproducibly.
    #[test]
    fn learns_separable_data_reproducibly() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let pos = i % 2 == 0;
            let c = if pos { 1.0 } else { -1.0 };
            x.push(vec![
                c + rng.random_range(-0.5..0.5),
                rng.random_range(-1.0..1.0),
                3.0,
            ]);
            y.push(pos);
        }
        for hidden in [0, 8] {
            let cfg = TrainConfig {
                hidden,
                epochs: 200,
                lr: 0.05,
                weight_decay: 0.0,
                seed: 3,
                drop: vec![2],
                gate: None,
            };
            let a = train(&x, &y, &cfg, "e", 1, serde_json::Value::Null).unwrap();
            let b = train(&x, &y, &cfg, "e", 1, serde_json::Value::Null).unwrap();
            assert_eq!(a, b, "same seed, same head");
            let dropped: Vec<f32> = if hidden == 0 {
                vec![a.w2[2]]
            } else {
                a.w1.chunks_exact(3).map(|row| row[2]).collect()
            };
            assert!(
                dropped.iter().all(|w| *w == 0.0),
                "dropped column has weight"
            );
            let acc = x
                .iter()
                .zip(&y)
                .filter(|(r, l)| (a.predict(r) >= 0.5) == **l)
                .count();
            assert!(acc >= 190, "hidden={hidden}: {acc}/200");
        }
        assert!(train(
            &x,
            &[true; 200],
            &TrainConfig::default(),
            "e",
            1,
            serde_json::Value::Null
        )
        .is_err());
    }
}
