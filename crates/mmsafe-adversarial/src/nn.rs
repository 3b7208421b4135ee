//! The few layers a CLIP tower needs, written from composed tensor ops.
//!
//! Why not `candle_nn`'s layers: `candle_nn::LayerNorm` (and `ops::softmax_last_dim`,
//! `ops::rms_norm`) take fused kernels that have no backward pass, so the gradient
//! silently never reaches the input image. Every op here is differentiable, and the
//! tests assert that the input gradient exists.

use candle_core::{DType, Result, Tensor, D};

/// Weights are plain tensors (not `Var`s), so backward computes only the
/// gradient of the input, not of 150 M parameters.
#[derive(Debug, Clone)]
pub struct Linear {
    weight_t: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.weight_t)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> LayerNorm {
        LayerNorm { weight, bias, eps }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    QuickGelu,
    Gelu,
}

impl Activation {
    pub fn parse(name: &str) -> Option<Activation> {
        match name {
            "quick_gelu" => Some(Activation::QuickGelu),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" => Some(Activation::Gelu),
            _ => None,
        }
    }

    pub fn forward(self, x: &Tensor) -> Result<Tensor> {
        match self {
            // x * sigmoid(1.702 x), with sigmoid composed so it backpropagates.
            Activation::QuickGelu => {
                let sig = (x.affine(-1.702, 0.0)?.exp()? + 1.0)?.recip()?;
                x.mul(&sig)
            }
            Activation::Gelu => x.gelu_erf(),
        }
    }
}

/// Differentiable softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&sum)
}

#[derive(Debug, Clone)]
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    scale: f64,
}

impl Attention {
    pub fn new(
        q: Linear,
        k: Linear,
        v: Linear,
        out: Linear,
        heads: usize,
        dim: usize,
    ) -> Attention {
        let head_dim = dim / heads;
        Attention {
            q,
            k,
            v,
            out,
            heads,
            scale: (head_dim as f64).powf(-0.5),
        }
    }

    /// `x`: (batch, tokens, dim); `mask`: additive (tokens, tokens) or none.
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let hd = d / self.heads;
        let split = |y: Tensor| -> Result<Tensor> {
            y.reshape((b, t, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((self.q.forward(x)? * self.scale)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let mut att = q.matmul(&k.t()?.contiguous()?)?;
        if let Some(m) = mask {
            att = att.broadcast_add(m)?;
        }
        let att = softmax_last(&att)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.out.forward(&y)
    }
}

#[derive(Debug, Clone)]
pub struct EncoderLayer {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
    pub act: Activation,
}

impl EncoderLayer {
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let h = self.attn.forward(&self.norm1.forward(x)?, mask)?;
        let x = (x + h)?;
        let h = self.fc2.forward(
            &self
                .act
                .forward(&self.fc1.forward(&self.norm2.forward(&x)?)?)?,
        )?;
        x + h
    }
}

/// Additive causal mask for the text tower.
pub fn causal_mask(t: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (t, t), device)?.to_dtype(DType::F32)
}

/// L2-normalize the last dimension.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    x.broadcast_div(&n)
}
