//! The MiniLM (BERT) forward pass written with composed candle ops, so one
//! piece of code serves inference and training: candle_nn's fused
//! `layer_norm` op has no backward pass, and candle-transformers keeps its
//! BERT layers private.

use candle_core::{DType, Result, Tensor, D};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

pub const HIDDEN: usize = 384;
pub const HEADS: usize = 12;
pub const LAYERS: usize = 6;
const LN_EPS: f64 = 1e-12;
/// Added to attention scores of padding positions.
const MASKED: f64 = -1e4;

/// Named weights (`embeddings.*`, `encoder.layer.N.*`, `head.*`), as in the
/// model's safetensors file.
pub type Weights = HashMap<String, Tensor>;

fn get<'a>(w: &'a Weights, name: &str) -> Result<&'a Tensor> {
    w.get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("weights lack tensor `{name}`")))
}

/// The names of one encoder layer's tensors.
pub fn layer_tensor_names(layer: usize) -> Vec<String> {
    [
        "attention.self.query.weight",
        "attention.self.query.bias",
        "attention.self.key.weight",
        "attention.self.key.bias",
        "attention.self.value.weight",
        "attention.self.value.bias",
        "attention.output.dense.weight",
        "attention.output.dense.bias",
        "attention.output.LayerNorm.weight",
        "attention.output.LayerNorm.bias",
        "intermediate.dense.weight",
        "intermediate.dense.bias",
        "output.dense.weight",
        "output.dense.bias",
        "output.LayerNorm.weight",
        "output.LayerNorm.bias",
    ]
    .iter()
    .map(|n| format!("encoder.layer.{layer}.{n}"))
    .collect()
}

pub const HEAD_WEIGHT: &str = "head.weight";
pub const HEAD_BIAS: &str = "head.bias";

fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + LN_EPS)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.broadcast_matmul(&w.t()?)?.broadcast_add(b)
}

/// Inverted dropout with masks drawn from a seeded stream, so a training
/// run is reproducible (candle's own dropout draws from an unseeded RNG).
pub struct Dropout {
    rng: rand_chacha::ChaCha8Rng,
    p: f32,
}

impl Dropout {
    pub fn new(p: f32, seed: u64) -> Dropout {
        Dropout {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            p,
        }
    }

    /// Position in the mask stream, to resume it from a checkpoint.
    pub fn position(&self) -> u128 {
        self.rng.get_word_pos()
    }

    pub fn set_position(&mut self, pos: u128) {
        self.rng.set_word_pos(pos);
    }

    fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if self.rng.random::<f32>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

fn maybe_drop(x: Tensor, dropout: &mut Option<&mut Dropout>) -> Result<Tensor> {
    match dropout {
        Some(d) => d.apply(&x),
        None => Ok(x),
    }
}

/// Token, position and segment embeddings of `ids` (batch × tokens, u32).
pub fn embed(w: &Weights, ids: &Tensor, types: &Tensor) -> Result<Tensor> {
    let (b, t) = ids.dims2()?;
    let words = get(w, "embeddings.word_embeddings.weight")?
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, t, HIDDEN))?;
    let segments = get(w, "embeddings.token_type_embeddings.weight")?
        .index_select(&types.flatten_all()?, 0)?
        .reshape((b, t, HIDDEN))?;
    let positions = get(w, "embeddings.position_embeddings.weight")?
        .narrow(0, 0, t)?
        .unsqueeze(0)?;
    let sum = (words + segments)?.broadcast_add(&positions)?;
    layer_norm(
        &sum,
        get(w, "embeddings.LayerNorm.weight")?,
        get(w, "embeddings.LayerNorm.bias")?,
    )
}

/// Additive attention mask (batch × 1 × 1 × tokens) from a 0/1 mask.
pub fn attention_mask(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    ((mask.to_dtype(DType::F32)? - 1.0)? * -MASKED)?.reshape((b, 1, 1, t))
}

/// One encoder layer; `dropout` is given only while training.
pub fn layer(
    w: &Weights,
    index: usize,
    h: &Tensor,
    attn_mask: &Tensor,
    mut dropout: Option<&mut Dropout>,
) -> Result<Tensor> {
    let p = |n: &str| get(w, &format!("encoder.layer.{index}.{n}"));
    let (b, t, d) = h.dims3()?;
    let head_dim = d / HEADS;
    let split = |x: Tensor| -> Result<Tensor> {
        x.reshape((b, t, HEADS, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = split(linear(
        h,
        p("attention.self.query.weight")?,
        p("attention.self.query.bias")?,
    )?)?;
    let k = split(linear(
        h,
        p("attention.self.key.weight")?,
        p("attention.self.key.bias")?,
    )?)?;
    let v = split(linear(
        h,
        p("attention.self.value.weight")?,
        p("attention.self.value.bias")?,
    )?)?;
    let scores =
        (q.matmul(&k.t()?.contiguous()?)? / (head_dim as f64).sqrt())?.broadcast_add(attn_mask)?;
    let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
    let context = probs
        .matmul(&v)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, t, d))?;
    let attended = maybe_drop(
        linear(
            &context,
            p("attention.output.dense.weight")?,
            p("attention.output.dense.bias")?,
        )?,
        &mut dropout,
    )?;
    let a = layer_norm(
        &(attended + h)?,
        p("attention.output.LayerNorm.weight")?,
        p("attention.output.LayerNorm.bias")?,
    )?;
    let inner = linear(
        &a,
        p("intermediate.dense.weight")?,
        p("intermediate.dense.bias")?,
    )?
    .gelu_erf()?;
    let out = maybe_drop(
        linear(&inner, p("output.dense.weight")?, p("output.dense.bias")?)?,
        &mut dropout,
    )?;
    layer_norm(
        &(out + a)?,
        p("output.LayerNorm.weight")?,
        p("output.LayerNorm.bias")?,
    )
}

/// Mean over real tokens, then the linear head: one logit per row.
pub fn head_logits(w: &Weights, h: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let pooled = h
        .broadcast_mul(&m)?
        .sum(1)?
        .broadcast_div(&m.sum(1)?.clamp(1.0, f64::MAX)?)?;
    linear(&pooled, get(w, HEAD_WEIGHT)?, get(w, HEAD_BIAS)?)?.squeeze(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn tiny_weights() -> Weights {
        let dev = Device::Cpu;
        let mut w = Weights::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut rand_t = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(-0.05..0.05)).collect();
            Tensor::from_vec(v, shape, &dev).unwrap()
        };
        for name in layer_tensor_names(0) {
            let shape: Vec<usize> = if name.ends_with("LayerNorm.weight") {
                vec![HIDDEN]
            } else if name.contains("intermediate.dense.weight") {
                vec![4 * HIDDEN, HIDDEN]
            } else if name.contains("intermediate.dense.bias") {
                vec![4 * HIDDEN]
            } else if name.contains("output.dense.weight") && !name.contains("attention") {
                vec![HIDDEN, 4 * HIDDEN]
            } else if name.ends_with("weight") {
                vec![HIDDEN, HIDDEN]
            } else {
                vec![HIDDEN]
            };
            let t = if name.ends_with("LayerNorm.weight") {
                Tensor::ones(HIDDEN, DType::F32, &dev).unwrap()
            } else {
                rand_t(&shape)
            };
            w.insert(name, t);
        }
        w.insert(HEAD_WEIGHT.into(), rand_t(&[1, HIDDEN]));
        w.insert(HEAD_BIAS.into(), rand_t(&[1]));
        w
    }

    /// Padding must not change a row's logit: the mask keeps padded keys out
    /// of attention and out of the mean.
    #[test]
    fn padding_does_not_change_the_logit() {
        let w = tiny_weights();
        let dev = Device::Cpu;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let real: Vec<f32> = (0..3 * HIDDEN)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let short = Tensor::from_vec(real.clone(), (1, 3, HIDDEN), &dev).unwrap();
        let mut padded_v = real;
        padded_v.extend(std::iter::repeat_n(0.3, 2 * HIDDEN));
        let padded = Tensor::from_vec(padded_v, (1, 5, HIDDEN), &dev).unwrap();
        let m_short = Tensor::new(&[[1u32, 1, 1]], &dev).unwrap();
        let m_pad = Tensor::new(&[[1u32, 1, 1, 0, 0]], &dev).unwrap();
        let run = |h: &Tensor, m: &Tensor| {
            let out = layer(&w, 0, h, &attention_mask(m).unwrap(), None).unwrap();
            head_logits(&w, &out, m).unwrap().to_vec1::<f32>().unwrap()[0]
        };
        let (a, b) = (run(&short, &m_short), run(&padded, &m_pad));
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }

    #[test]
    fn seeded_dropout_repeats_and_keeps_the_expected_share() {
        let x = Tensor::ones(10_000, DType::F32, &Device::Cpu).unwrap();
        let a = Dropout::new(0.1, 3)
            .apply(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = Dropout::new(0.1, 3)
            .apply(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b);
        let zeros = a.iter().filter(|v| **v == 0.0).count();
        assert!((800..1200).contains(&zeros), "{zeros} dropped");
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        assert!((mean - 1.0).abs() < 0.05, "mean {mean}");
    }
}
