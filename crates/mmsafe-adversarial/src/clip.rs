//! A CLIP surrogate (vision and text towers) loaded from a Hugging Face layout
//! directory: `config.json` + `model.safetensors` (+ `tokenizer.json` for text
//! targets, + optional `preprocessor_config.json`).
//!
//! Weight names follow the HF checkpoint (`vision_model.encoder.layers.N.…`), so
//! the loader reads like a map of the file. Everything is built from
//! differentiable ops (see `nn`).

use crate::error::{AdvError, Result};
use crate::nn::{
    causal_mask, l2_normalize, Activation, Attention, EncoderLayer, LayerNorm, Linear,
};
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn d_hidden_vision() -> usize {
    768
}
fn d_inter_vision() -> usize {
    3072
}
fn d_heads_vision() -> usize {
    12
}
fn d_layers() -> usize {
    12
}
fn d_image_size() -> usize {
    224
}
fn d_patch() -> usize {
    32
}
fn d_act() -> String {
    "quick_gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}
fn d_channels() -> usize {
    3
}
fn d_hidden_text() -> usize {
    512
}
fn d_inter_text() -> usize {
    2048
}
fn d_heads_text() -> usize {
    8
}
fn d_max_pos() -> usize {
    77
}
fn d_vocab() -> usize {
    49408
}
fn d_proj() -> usize {
    512
}

/// `vision_config` of an HF `CLIPConfig` (defaults: ViT-B/32).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "d_hidden_vision")]
    pub hidden_size: usize,
    #[serde(default = "d_inter_vision")]
    pub intermediate_size: usize,
    #[serde(default = "d_heads_vision")]
    pub num_attention_heads: usize,
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_image_size")]
    pub image_size: usize,
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "d_channels")]
    pub num_channels: usize,
}

/// `text_config` of an HF `CLIPConfig` (defaults: ViT-B/32's text tower).
#[derive(Debug, Clone, Deserialize)]
pub struct TextConfig {
    #[serde(default = "d_hidden_text")]
    pub hidden_size: usize,
    #[serde(default = "d_inter_text")]
    pub intermediate_size: usize,
    #[serde(default = "d_heads_text")]
    pub num_attention_heads: usize,
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "d_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// HF's legacy configs say 2 here and pool at the highest token id instead.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClipConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default = "d_proj")]
    pub projection_dim: usize,
    pub vision_config: VisionConfig,
    #[serde(default)]
    pub text_config: Option<TextConfig>,
}

impl ClipConfig {
    /// OpenAI CLIP ViT-B/32 shapes (for benchmarks with random weights).
    pub fn vit_b32() -> ClipConfig {
        serde_json::from_str(r#"{"projection_dim":512,"vision_config":{},"text_config":{}}"#)
            .unwrap_or_else(|_| unreachable!("static config parses"))
    }
}

/// Pixel normalization of the surrogate (`preprocessor_config.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Preprocess {
    #[serde(default = "clip_mean")]
    pub image_mean: [f32; 3],
    #[serde(default = "clip_std")]
    pub image_std: [f32; 3],
}

fn clip_mean() -> [f32; 3] {
    [0.481_454_66, 0.457_827_5, 0.408_210_73]
}
fn clip_std() -> [f32; 3] {
    [0.268_629_54, 0.261_302_6, 0.275_777_1]
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            image_mean: clip_mean(),
            image_std: clip_std(),
        }
    }
}

struct Weights {
    path: PathBuf,
    map: HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.map.get(name).ok_or_else(|| AdvError::BadWeights {
            path: self.path.clone(),
            name: name.to_string(),
            message: "is missing".into(),
        })?;
        if t.dims() != shape {
            return Err(AdvError::BadWeights {
                path: self.path.clone(),
                name: name.to_string(),
                message: format!("has shape {:?}, config expects {:?}", t.dims(), shape),
            });
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn linear(&self, prefix: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let w = self.get(&format!("{prefix}.weight"), &[out, inp])?;
        let b = if bias {
            Some(self.get(&format!("{prefix}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Linear::new(w, b)?)
    }

    fn norm(&self, prefix: &str, dim: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(
            self.get(&format!("{prefix}.weight"), &[dim])?,
            self.get(&format!("{prefix}.bias"), &[dim])?,
            eps,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn encoder(
        &self,
        prefix: &str,
        layers: usize,
        dim: usize,
        inter: usize,
        heads: usize,
        eps: f64,
        act: Activation,
    ) -> Result<Vec<EncoderLayer>> {
        (0..layers)
            .map(|i| {
                let p = format!("{prefix}.layers.{i}");
                let lin = |n: &str| self.linear(&format!("{p}.self_attn.{n}"), dim, dim, true);
                Ok(EncoderLayer {
                    norm1: self.norm(&format!("{p}.layer_norm1"), dim, eps)?,
                    attn: Attention::new(
                        lin("q_proj")?,
                        lin("k_proj")?,
                        lin("v_proj")?,
                        lin("out_proj")?,
                        heads,
                        dim,
                    ),
                    norm2: self.norm(&format!("{p}.layer_norm2"), dim, eps)?,
                    fc1: self.linear(&format!("{p}.mlp.fc1"), inter, dim, true)?,
                    fc2: self.linear(&format!("{p}.mlp.fc2"), dim, inter, true)?,
                    act,
                })
            })
            .collect()
    }
}

pub struct VisionTower {
    patch_weight: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    post_norm: LayerNorm,
    projection: Linear,
    pub image_size: usize,
    patch: usize,
}

impl VisionTower {
    /// Embeds normalized pixels `(batch, 3, S, S)` into projected features `(batch, proj)`
    /// (not normalized).
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let b = pixels.dim(0)?;
        let x = pixels.conv2d(&self.patch_weight, 0, self.patch, 1, 1)?;
        let (_, c, _, _) = x.dims4()?;
        let x = x.flatten_from(2)?.transpose(1, 2)?; // (b, patches, c)
        let cls = self
            .class_embedding
            .reshape((1, 1, c))?
            .broadcast_as((b, 1, c))?;
        let x = Tensor::cat(&[&cls, &x], 1)?;
        let x = x.broadcast_add(&self.position_embedding.unsqueeze(0)?)?;
        let mut x = self.pre_norm.forward(&x)?;
        for layer in &self.layers {
            x = layer.forward(&x, None)?;
        }
        let pooled = x.narrow(1, 0, 1)?.squeeze(1)?;
        self.projection.forward(&self.post_norm.forward(&pooled)?)
    }
}

pub struct TextTower {
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_norm: LayerNorm,
    projection: Linear,
    max_positions: usize,
    eos_token_id: Option<u32>,
}

impl TextTower {
    /// Embeds one token sequence into projected features `(1, proj)`.
    pub fn forward(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let ids: Vec<u32> = ids.iter().copied().take(self.max_positions).collect();
        let t = ids.len();
        let device = self.token_embedding.device();
        let id_tensor = Tensor::new(ids.as_slice(), device)?;
        let x = self.token_embedding.index_select(&id_tensor, 0)?;
        let x = (x + self.position_embedding.narrow(0, 0, t)?)?.unsqueeze(0)?;
        let mask = causal_mask(t, device)?;
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(&x, Some(&mask))?;
        }
        let x = self.final_norm.forward(&x)?;
        let pool_at = match self.eos_token_id {
            Some(eos) if eos != 2 => ids.iter().position(|&i| i == eos),
            _ => None,
        }
        .unwrap_or_else(|| {
            // Legacy CLIP: the end-of-text token has the highest id.
            ids.iter()
                .enumerate()
                .max_by_key(|(_, &id)| id)
                .map(|(i, _)| i)
                .unwrap_or(0)
        });
        let pooled = x.narrow(1, pool_at, 1)?.squeeze(1)?;
        self.projection.forward(&pooled)
    }
}

/// One surrogate encoder: vision tower, optional text tower and tokenizer.
pub struct ClipSurrogate {
    pub name: String,
    pub config: ClipConfig,
    pub preprocess: Preprocess,
    pub vision: VisionTower,
    pub text: Option<TextTower>,
    tokenizer: Option<(PathBuf, tokenizers::Tokenizer)>,
    device: Device,
}

impl ClipSurrogate {
    /// Load from an HF-layout directory.
    pub fn load(dir: &Path, device: &Device) -> Result<ClipSurrogate> {
        let config_path = dir.join("config.json");
        let weights_path = dir.join("model.safetensors");
        for (p, f) in [
            (&config_path, "config.json"),
            (&weights_path, "model.safetensors"),
        ] {
            if !p.is_file() {
                return Err(AdvError::MissingFile {
                    dir: dir.to_path_buf(),
                    file: f.to_string(),
                });
            }
        }
        let raw = std::fs::read_to_string(&config_path).map_err(|source| AdvError::Io {
            path: config_path.clone(),
            source,
        })?;
        let config: ClipConfig = serde_json::from_str(&raw).map_err(|e| AdvError::BadConfig {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        if let Some(mt) = &config.model_type {
            if mt != "clip" {
                return Err(AdvError::BadConfig {
                    path: config_path,
                    message: format!("model_type `{mt}` is not supported (supported: clip)"),
                });
            }
        }
        let preprocess = match std::fs::read_to_string(dir.join("preprocessor_config.json")) {
            Ok(s) => serde_json::from_str(&s).map_err(|e| AdvError::BadConfig {
                path: dir.join("preprocessor_config.json"),
                message: e.to_string(),
            })?,
            Err(_) => Preprocess::default(),
        };
        let map = candle_core::safetensors::load(&weights_path, device).map_err(|e| {
            AdvError::BadWeights {
                path: weights_path.clone(),
                name: "*".into(),
                message: format!("cannot be read: {e}"),
            }
        })?;
        let weights = Weights {
            path: weights_path,
            map,
        };
        let tokenizer = {
            let p = dir.join("tokenizer.json");
            if p.is_file() {
                let tok =
                    tokenizers::Tokenizer::from_file(&p).map_err(|e| AdvError::Tokenizer {
                        path: p.clone(),
                        message: e.to_string(),
                    })?;
                Some((p, tok))
            } else {
                None
            }
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| dir.display().to_string());
        Self::from_weights(name, config, preprocess, &weights, tokenizer, device)
    }

    fn from_weights(
        name: String,
        config: ClipConfig,
        preprocess: Preprocess,
        w: &Weights,
        tokenizer: Option<(PathBuf, tokenizers::Tokenizer)>,
        device: &Device,
    ) -> Result<ClipSurrogate> {
        let vc = &config.vision_config;
        let act = Activation::parse(&vc.hidden_act).ok_or_else(|| AdvError::BadConfig {
            path: w.path.clone(),
            message: format!("vision hidden_act `{}` is not supported", vc.hidden_act),
        })?;
        if vc.patch_size == 0 || !vc.image_size.is_multiple_of(vc.patch_size) {
            return Err(AdvError::BadConfig {
                path: w.path.clone(),
                message: format!(
                    "image_size {} is not a multiple of patch_size {}",
                    vc.image_size, vc.patch_size
                ),
            });
        }
        let d = vc.hidden_size;
        let patches = (vc.image_size / vc.patch_size).pow(2);
        let vision = VisionTower {
            patch_weight: w.get(
                "vision_model.embeddings.patch_embedding.weight",
                &[d, vc.num_channels, vc.patch_size, vc.patch_size],
            )?,
            class_embedding: w.get("vision_model.embeddings.class_embedding", &[d])?,
            position_embedding: w.get(
                "vision_model.embeddings.position_embedding.weight",
                &[patches + 1, d],
            )?,
            pre_norm: w.norm("vision_model.pre_layrnorm", d, vc.layer_norm_eps)?,
            layers: w.encoder(
                "vision_model.encoder",
                vc.num_hidden_layers,
                d,
                vc.intermediate_size,
                vc.num_attention_heads,
                vc.layer_norm_eps,
                act,
            )?,
            post_norm: w.norm("vision_model.post_layernorm", d, vc.layer_norm_eps)?,
            projection: w.linear("visual_projection", config.projection_dim, d, false)?,
            image_size: vc.image_size,
            patch: vc.patch_size,
        };
        let text = match &config.text_config {
            Some(tc) if w.has("text_model.embeddings.token_embedding.weight") => {
                let act = Activation::parse(&tc.hidden_act).ok_or_else(|| AdvError::BadConfig {
                    path: w.path.clone(),
                    message: format!("text hidden_act `{}` is not supported", tc.hidden_act),
                })?;
                let d = tc.hidden_size;
                Some(TextTower {
                    token_embedding: w.get(
                        "text_model.embeddings.token_embedding.weight",
                        &[tc.vocab_size, d],
                    )?,
                    position_embedding: w.get(
                        "text_model.embeddings.position_embedding.weight",
                        &[tc.max_position_embeddings, d],
                    )?,
                    layers: w.encoder(
                        "text_model.encoder",
                        tc.num_hidden_layers,
                        d,
                        tc.intermediate_size,
                        tc.num_attention_heads,
                        tc.layer_norm_eps,
                        act,
                    )?,
                    final_norm: w.norm("text_model.final_layer_norm", d, tc.layer_norm_eps)?,
                    projection: w.linear("text_projection", config.projection_dim, d, false)?,
                    max_positions: tc.max_position_embeddings,
                    eos_token_id: tc.eos_token_id,
                })
            }
            _ => None,
        };
        Ok(ClipSurrogate {
            name,
            config,
            preprocess,
            vision,
            text,
            tokenizer,
            device: device.clone(),
        })
    }

    /// A surrogate with seeded random weights (benchmarks and tests).
    pub fn random(
        name: &str,
        config: ClipConfig,
        seed: u64,
        device: &Device,
    ) -> Result<ClipSurrogate> {
        let map = random_weights(&config, seed, device)?;
        let weights = Weights {
            path: PathBuf::from(format!("<random:{name}>")),
            map,
        };
        Self::from_weights(
            name.to_string(),
            config,
            Preprocess::default(),
            &weights,
            None,
            device,
        )
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// L2-normalized image embedding of normalized pixels at the tower's size.
    pub fn embed_pixels(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        l2_normalize(&self.vision.forward(pixels)?)
    }

    /// L2-normalized text embedding `(1, proj)`.
    pub fn embed_text(&self, text: &str) -> Result<Tensor> {
        let tower = self.text.as_ref().ok_or_else(|| {
            AdvError::InvalidValue(format!(
                "surrogate `{}` has no text tower (text_model.* weights); embed-text needs one",
                self.name
            ))
        })?;
        let (path, tok) = self
            .tokenizer
            .as_ref()
            .ok_or_else(|| AdvError::MissingFile {
                dir: PathBuf::from(&self.name),
                file: "tokenizer.json".into(),
            })?;
        let enc = tok.encode(text, true).map_err(|e| AdvError::Tokenizer {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut ids = enc.get_ids().to_vec();
        // Tokenizers without a CLIP post-processor: add start/end markers ourselves.
        if let Some(bos) = tok.token_to_id("<|startoftext|>") {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        if let Some(eos) = tok.token_to_id("<|endoftext|>") {
            if ids.last() != Some(&eos) {
                ids.push(eos);
            }
        }
        Ok(l2_normalize(&tower.forward(&ids)?)?)
    }
}

/// All HF CLIP tensor names and shapes for a config, with seeded normal weights
/// (fan-in scaled normal, LayerNorm weight 1 / bias 0), as `model.safetensors` would hold them.
pub fn random_weights(
    config: &ClipConfig,
    seed: u64,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut map = HashMap::new();
    // Fan-in scaled (1/sqrt(fan_in)) so that activations, and thus the input
    // sensitivity a gradient attack relies on, have realistic magnitudes.
    let normal = |shape: &[usize], rng: &mut rand_chacha::ChaCha8Rng| -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let fan_in: usize = if shape.len() > 1 {
            shape[1..].iter().product()
        } else {
            50
        };
        let std = (1.0 / fan_in as f32).sqrt();
        // Box-Muller: rand 0.9 has no normal distribution without rand_distr.
        let v: Vec<f32> = (0..n)
            .map(|_| {
                let u1: f32 = rng.random::<f32>().max(1e-7);
                let u2: f32 = rng.random::<f32>();
                std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        Ok(Tensor::from_vec(v, shape, device)?)
    };
    let ones = |n: usize| Tensor::ones(n, DType::F32, device);
    let zeros = |n: usize| Tensor::zeros(n, DType::F32, device);
    let encoder = |map: &mut HashMap<String, Tensor>,
                   prefix: &str,
                   layers: usize,
                   d: usize,
                   inter: usize,
                   rng: &mut rand_chacha::ChaCha8Rng|
     -> Result<()> {
        for i in 0..layers {
            let p = format!("{prefix}.layers.{i}");
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                map.insert(format!("{p}.self_attn.{n}.weight"), normal(&[d, d], rng)?);
                map.insert(format!("{p}.self_attn.{n}.bias"), zeros(d)?);
            }
            for n in ["layer_norm1", "layer_norm2"] {
                map.insert(format!("{p}.{n}.weight"), ones(d)?);
                map.insert(format!("{p}.{n}.bias"), zeros(d)?);
            }
            map.insert(format!("{p}.mlp.fc1.weight"), normal(&[inter, d], rng)?);
            map.insert(format!("{p}.mlp.fc1.bias"), zeros(inter)?);
            map.insert(format!("{p}.mlp.fc2.weight"), normal(&[d, inter], rng)?);
            map.insert(format!("{p}.mlp.fc2.bias"), zeros(d)?);
        }
        Ok(())
    };
    let vc = &config.vision_config;
    let d = vc.hidden_size;
    let patches = (vc.image_size / vc.patch_size.max(1)).pow(2);
    map.insert(
        "vision_model.embeddings.patch_embedding.weight".into(),
        normal(
            &[d, vc.num_channels, vc.patch_size, vc.patch_size],
            &mut rng,
        )?,
    );
    map.insert(
        "vision_model.embeddings.class_embedding".into(),
        normal(&[d], &mut rng)?,
    );
    map.insert(
        "vision_model.embeddings.position_embedding.weight".into(),
        normal(&[patches + 1, d], &mut rng)?,
    );
    for n in ["vision_model.pre_layrnorm", "vision_model.post_layernorm"] {
        map.insert(format!("{n}.weight"), ones(d)?);
        map.insert(format!("{n}.bias"), zeros(d)?);
    }
    encoder(
        &mut map,
        "vision_model.encoder",
        vc.num_hidden_layers,
        d,
        vc.intermediate_size,
        &mut rng,
    )?;
    map.insert(
        "visual_projection.weight".into(),
        normal(&[config.projection_dim, d], &mut rng)?,
    );
    if let Some(tc) = &config.text_config {
        let d = tc.hidden_size;
        map.insert(
            "text_model.embeddings.token_embedding.weight".into(),
            normal(&[tc.vocab_size, d], &mut rng)?,
        );
        map.insert(
            "text_model.embeddings.position_embedding.weight".into(),
            normal(&[tc.max_position_embeddings, d], &mut rng)?,
        );
        map.insert("text_model.final_layer_norm.weight".into(), ones(d)?);
        map.insert("text_model.final_layer_norm.bias".into(), zeros(d)?);
        encoder(
            &mut map,
            "text_model.encoder",
            tc.num_hidden_layers,
            d,
            tc.intermediate_size,
            &mut rng,
        )?;
        map.insert(
            "text_projection.weight".into(),
            normal(&[config.projection_dim, d], &mut rng)?,
        );
    }
    Ok(map)
}
