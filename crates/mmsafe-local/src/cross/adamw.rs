//! AdamW with its state in the open.
//!
//! Written here rather than using `candle_nn::AdamW` because that type keeps
//! its moment estimates and step count private, so a fine-tuning run could
//! not be checkpointed and resumed. The update is the same sequence of tensor
//! operations as candle_nn 0.11's `AdamW::step` (decoupled weight decay, bias
//! correction), so a run gives the same bytes with either.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

pub struct AdamW {
    vars: Vec<Var>,
    first: Vec<Var>,
    second: Vec<Var>,
    step_t: usize,
    lr: f64,
    weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    pub fn new(vars: Vec<Var>, lr: f64, weight_decay: f64) -> Result<AdamW> {
        let zeros = |v: &Var| Var::zeros(v.shape(), v.dtype(), v.device());
        Ok(AdamW {
            first: vars.iter().map(zeros).collect::<Result<_>>()?,
            second: vars.iter().map(zeros).collect::<Result<_>>()?,
            vars,
            step_t: 0,
            lr,
            weight_decay,
        })
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step_t
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let lr_lambda = self.lr * self.weight_decay;
        let scale_m = 1f64 / (1f64 - BETA1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - BETA2.powi(self.step_t as i32));
        for ((theta, m), v) in self.vars.iter().zip(&self.first).zip(&self.second) {
            let Some(g) = grads.get(theta) else { continue };
            let next_m = ((m.as_tensor() * BETA1)? + (g * (1.0 - BETA1))?)?;
            let next_v = ((v.as_tensor() * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + EPS)?)?;
            let next_theta = (next_theta - (adjusted * self.lr)?)?;
            m.set(&next_m)?;
            v.set(&next_v)?;
            theta.set(&next_theta)?;
        }
        Ok(())
    }

    /// The moment estimates, one pair per variable, in the variables' order.
    pub fn moments(&self) -> impl Iterator<Item = (&Tensor, &Tensor)> {
        self.first
            .iter()
            .zip(&self.second)
            .map(|(m, v)| (m.as_tensor(), v.as_tensor()))
    }

    /// Continue from saved moments after `steps` steps.
    pub fn restore(&mut self, steps: usize, moments: &[(Tensor, Tensor)]) -> Result<()> {
        if moments.len() != self.vars.len() {
            candle_core::bail!(
                "{} saved moment pairs for {} variables",
                moments.len(),
                self.vars.len()
            );
        }
        for ((m, v), (sm, sv)) in self.first.iter().zip(&self.second).zip(moments) {
            m.set(sm)?;
            v.set(sv)?;
        }
        self.step_t = steps;
        Ok(())
    }
}
