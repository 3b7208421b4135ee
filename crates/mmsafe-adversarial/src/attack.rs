//! The optimization loop: PGD (L∞, L2) and Adam on pixels, against one or more
//! surrogate encoders, with expectation over transformation and restarts.

use crate::clip::ClipSurrogate;
use crate::error::{AdvError, Result};
use crate::imageio::Rgb8;
use crate::preprocess::{normalize, AxisMaps};
use crate::quality::{measure, Imperceptibility};
use candle_core::{Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Pull the image embedding towards a text embedding (AttackVLM MF-it).
    EmbedText,
    /// Pull it towards another image's embedding (AttackVLM MF-ii, Jailbreak in Pieces).
    EmbedImage,
    /// Push it away from the clean image's embedding.
    Untargeted,
}

impl Mode {
    pub const ALL: [(&'static str, Mode); 3] = [
        ("embed-text", Mode::EmbedText),
        ("embed-image", Mode::EmbedImage),
        ("untargeted", Mode::Untargeted),
    ];
    pub fn parse(s: &str) -> Result<Mode> {
        Mode::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                AdvError::InvalidValue(format!(
                    "unknown adversarial mode `{s}`; valid: embed-text, embed-image, untargeted"
                ))
            })
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::EmbedText => "embed-text",
            Mode::EmbedImage => "embed-image",
            Mode::Untargeted => "untargeted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Signed-gradient steps projected onto the L∞ ball.
    PgdLinf,
    /// Normalized-gradient steps projected onto the L2 ball.
    PgdL2,
    /// Adam on the perturbation; projected onto the L∞ ball when ε < 1.
    Adam,
}

impl Optimizer {
    pub fn parse(s: &str) -> Result<Optimizer> {
        match s {
            "pgd" | "pgd-linf" | "linf" => Ok(Optimizer::PgdLinf),
            "pgd-l2" | "l2" => Ok(Optimizer::PgdL2),
            "adam" => Ok(Optimizer::Adam),
            _ => Err(AdvError::InvalidValue(format!(
                "unknown optimizer `{s}`; valid: pgd-linf, pgd-l2, adam"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Cosine decay of the step size to zero over the run.
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackConfig {
    pub mode: Mode,
    pub optimizer: Optimizer,
    /// Budget in [0,1] pixel units: L∞ radius, or L2 radius for `pgd-l2`.
    pub eps: f64,
    /// Step size (α for PGD, learning rate for Adam).
    pub step: f64,
    pub steps: usize,
    pub restarts: usize,
    pub random_start: bool,
    pub schedule: Schedule,
    /// Random transforms per step (0 = none): random resized crop + blur.
    pub eot_samples: usize,
    pub eot_min_area: f64,
    pub eot_max_sigma: f64,
    pub seed: u64,
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            mode: Mode::EmbedImage,
            optimizer: Optimizer::PgdLinf,
            eps: 16.0 / 255.0,
            step: 1.0 / 255.0,
            steps: 100,
            restarts: 1,
            random_start: true,
            schedule: Schedule::Constant,
            eot_samples: 0,
            eot_min_area: 0.8,
            eot_max_sigma: 1.0,
            seed: 0,
        }
    }
}

impl AttackConfig {
    pub fn validate(&self) -> Result<()> {
        // An L2 radius covers the whole image (√(3·H·W) at most), so only the
        // L∞ budget is bounded by one pixel's range.
        let eps_ok = match self.optimizer {
            Optimizer::PgdL2 => self.eps > 0.0 && self.eps.is_finite(),
            _ => self.eps > 0.0 && self.eps <= 1.0,
        };
        if !eps_ok {
            return Err(AdvError::InvalidValue(match self.optimizer {
                Optimizer::PgdL2 => format!("--eps {} must be a positive L2 radius", self.eps),
                _ => format!("--eps {} is outside (0, 1] (write e.g. 16/255)", self.eps),
            }));
        }
        if !(self.step > 0.0 && self.step.is_finite()) {
            return Err(AdvError::InvalidValue(format!(
                "--step {} must be > 0",
                self.step
            )));
        }
        if self.steps == 0 {
            return Err(AdvError::InvalidValue("--steps must be at least 1".into()));
        }
        if self.restarts == 0 {
            return Err(AdvError::InvalidValue(
                "--restarts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What the attack aims at.
#[derive(Debug, Clone)]
pub enum Goal {
    Text(String),
    Image(Rgb8),
    /// Away from the clean image (untargeted).
    AwayFromClean,
}

/// Per-surrogate unit embedding the loss compares against.
struct Anchor {
    embedding: Tensor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttackOutcome {
    /// The 8-bit image that was saved (what was measured by the deploy check).
    #[serde(skip)]
    pub adversarial: Option<Rgb8>,
    #[serde(skip)]
    pub png: Vec<u8>,
    pub loss_initial: f64,
    /// Loss of the float image at the end of optimization (no EOT).
    pub loss_final: f64,
    /// Loss after quantizing to 8-bit PNG and decoding again.
    pub loss_deployed: f64,
    /// Cosine similarity to the goal embedding per surrogate (for untargeted:
    /// to the clean embedding, lower is better).
    pub similarity_initial: Vec<f64>,
    pub similarity_deployed: Vec<f64>,
    pub imperceptibility: Imperceptibility,
    pub best_restart: usize,
    /// Loss (with EOT when enabled) at every step of the best restart.
    pub history: Vec<f64>,
}

/// Runs the attack on one clean image against an ensemble (mean loss).
pub struct Attacker<'a> {
    surrogates: &'a [ClipSurrogate],
    config: AttackConfig,
}

impl<'a> Attacker<'a> {
    pub fn new(surrogates: &'a [ClipSurrogate], config: AttackConfig) -> Result<Attacker<'a>> {
        config.validate()?;
        if surrogates.is_empty() {
            return Err(AdvError::InvalidValue(
                "at least one --surrogate is needed".into(),
            ));
        }
        Ok(Attacker { surrogates, config })
    }

    fn anchors(&self, goal: &Goal, clean: &Tensor) -> Result<Vec<Anchor>> {
        self.surrogates
            .iter()
            .map(|s| {
                let embedding = match goal {
                    Goal::Text(t) => s.embed_text(t)?,
                    Goal::Image(img) => {
                        let x = img.to_tensor(s.device())?;
                        embed_views(
                            s,
                            &x,
                            &[AxisMaps::center(img.h, img.w, s.vision.image_size)],
                        )?
                    }
                    Goal::AwayFromClean => {
                        let (_, _, h, w) = clean.dims4()?;
                        embed_views(s, clean, &[AxisMaps::center(h, w, s.vision.image_size)])?
                    }
                };
                Ok(Anchor {
                    embedding: embedding.detach(),
                })
            })
            .collect()
    }

    /// Mean over surrogates and views; per-surrogate mean similarity too.
    fn loss(
        &self,
        x: &Tensor,
        anchors: &[Anchor],
        views: &[Vec<AxisMaps>],
    ) -> Result<(Tensor, Vec<f64>)> {
        let mut total: Option<Tensor> = None;
        let mut sims = Vec::with_capacity(self.surrogates.len());
        for ((s, a), v) in self.surrogates.iter().zip(anchors).zip(views) {
            let emb = embed_views(s, x, v)?; // (n, proj)
            let sim = emb
                .broadcast_mul(&a.embedding)?
                .sum(D::Minus1)?
                .mean_all()?;
            sims.push(sim.to_scalar::<f32>()? as f64);
            let l = match self.config.mode {
                Mode::Untargeted => sim,
                _ => sim.affine(-1.0, 1.0)?,
            };
            total = Some(match total {
                Some(t) => (t + l)?,
                None => l,
            });
        }
        let n = self.surrogates.len() as f64;
        let total = total.ok_or_else(|| AdvError::InvalidValue("no surrogates".into()))?;
        Ok(((total / n)?, sims))
    }

    fn center_views(&self, h: usize, w: usize) -> Vec<Vec<AxisMaps>> {
        self.surrogates
            .iter()
            .map(|s| vec![AxisMaps::center(h, w, s.vision.image_size)])
            .collect()
    }

    pub fn run(&self, clean: &Rgb8, goal: &Goal) -> Result<AttackOutcome> {
        let cfg = &self.config;
        let device = self.surrogates[0].device().clone();
        let x0 = clean.to_tensor(&device)?;
        let (h, w) = (clean.h, clean.w);
        let anchors = self.anchors(goal, &x0)?;
        let eval_views = self.center_views(h, w);
        let (l0, sim0) = self.loss(&x0, &anchors, &eval_views)?;
        let loss_initial = l0.to_scalar::<f32>()? as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let numel = 3 * h * w;

        let mut best: Option<(f64, Tensor, usize, Vec<f64>)> = None;
        for restart in 0..cfg.restarts {
            let mut delta = if cfg.random_start && cfg.optimizer != Optimizer::Adam {
                let v: Vec<f32> = match cfg.optimizer {
                    Optimizer::PgdL2 => {
                        let raw: Vec<f32> =
                            (0..numel).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                        let r = cfg.eps as f32 * rng.random::<f32>();
                        raw.into_iter().map(|x| x / norm * r).collect()
                    }
                    _ => (0..numel)
                        .map(|_| rng.random_range(-(cfg.eps as f32)..=cfg.eps as f32))
                        .collect(),
                };
                Tensor::from_vec(v, (1, 3, h, w), &device)?
            } else {
                Tensor::zeros((1, 3, h, w), candle_core::DType::F32, &device)?
            };
            delta = self.project(&x0, &delta)?;
            let (mut m, mut v) = (delta.zeros_like()?, delta.zeros_like()?);
            let mut history = Vec::with_capacity(cfg.steps);
            for t in 0..cfg.steps {
                let views: Vec<Vec<AxisMaps>> = if cfg.eot_samples > 0 {
                    self.surrogates
                        .iter()
                        .map(|s| {
                            (0..cfg.eot_samples)
                                .map(|_| {
                                    AxisMaps::random(
                                        h,
                                        w,
                                        s.vision.image_size,
                                        cfg.eot_min_area,
                                        cfg.eot_max_sigma,
                                        &mut rng,
                                    )
                                })
                                .collect()
                        })
                        .collect()
                } else {
                    eval_views.clone()
                };
                let var = Var::from_tensor(&delta)?;
                let x = (&x0 + var.as_tensor())?.clamp(0f32, 1f32)?;
                let (loss, _) = self.loss(&x, &anchors, &views)?;
                history.push(loss.to_scalar::<f32>()? as f64);
                let grads = loss.backward()?;
                let g = grads.get(var.as_tensor()).ok_or_else(|| {
                    AdvError::InvalidValue(
                        "no gradient reached the input image (a non-differentiable op in the surrogate)".into(),
                    )
                })?;
                let alpha = match cfg.schedule {
                    Schedule::Constant => cfg.step,
                    Schedule::Cosine => {
                        cfg.step
                            * 0.5
                            * (1.0 + (std::f64::consts::PI * t as f64 / cfg.steps as f64).cos())
                    }
                };
                delta = match cfg.optimizer {
                    Optimizer::PgdLinf => (&delta - (g.sign()? * alpha)?)?,
                    Optimizer::PgdL2 => {
                        let gn = g.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
                        (&delta - (g * (alpha / gn.max(1e-12)))?)?
                    }
                    Optimizer::Adam => {
                        let (b1, b2) = (0.9, 0.999);
                        m = ((&m * b1)? + (g * (1.0 - b1))?)?;
                        v = ((&v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                        let mh = (&m / (1.0 - b1f(b1, t)))?;
                        let vh = (&v / (1.0 - b1f(b2, t)))?;
                        let upd = mh.div(&(vh.sqrt()? + 1e-8)?)?;
                        (&delta - (upd * alpha)?)?
                    }
                };
                delta = self.project(&x0, &delta)?;
            }
            let x = (&x0 + &delta)?.clamp(0f32, 1f32)?;
            let (lf, _) = self.loss(&x, &anchors, &eval_views)?;
            let lf = lf.to_scalar::<f32>()? as f64;
            if best.as_ref().is_none_or(|(bl, ..)| lf < *bl) {
                best = Some((lf, x, restart, history));
            }
        }
        let Some((loss_final, x_best, best_restart, history)) = best else {
            unreachable!("restarts >= 1 is validated")
        };
        // Deploy check: what is saved is what is measured.
        let quantized = Rgb8::from_tensor(&x_best)?;
        let png = quantized.encode_png()?;
        let reloaded = Rgb8::decode(&png, "<deploy check>")?;
        let xd = reloaded.to_tensor(&device)?;
        let (ld, simd) = self.loss(&xd, &anchors, &eval_views)?;
        let imperceptibility = measure(&clean.data, &reloaded.data, w, h);
        Ok(AttackOutcome {
            adversarial: Some(reloaded),
            png,
            loss_initial,
            loss_final,
            loss_deployed: ld.to_scalar::<f32>()? as f64,
            similarity_initial: sim0,
            similarity_deployed: simd,
            imperceptibility,
            best_restart,
            history,
        })
    }

    /// Project the perturbation onto the budget and keep pixels in [0, 1].
    fn project(&self, x0: &Tensor, delta: &Tensor) -> Result<Tensor> {
        let eps = self.config.eps;
        let d = match self.config.optimizer {
            Optimizer::PgdL2 => {
                let n = delta.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
                if n > eps {
                    (delta * (eps / n))?
                } else {
                    delta.clone()
                }
            }
            _ => delta.clamp(-eps as f32, eps as f32)?,
        };
        Ok(((x0 + d)?.clamp(0f32, 1f32)? - x0)?)
    }
}

fn b1f(beta: f64, t: usize) -> f64 {
    beta.powi(t as i32 + 1)
}

/// Unit embeddings of several views of `x` (one batch through the tower).
fn embed_views(s: &ClipSurrogate, x: &Tensor, views: &[AxisMaps]) -> candle_core::Result<Tensor> {
    let batch: Vec<Tensor> = views
        .iter()
        .map(|v| v.apply(x))
        .collect::<candle_core::Result<_>>()?;
    let batch = Tensor::cat(&batch, 0)?;
    let px = normalize(
        &batch,
        s.preprocess.image_mean,
        s.preprocess.image_std,
        x.device(),
    )?;
    s.embed_pixels(&px)
}
