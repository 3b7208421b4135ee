//! Sentence embeddings: all-MiniLM-L6-v2 through candle's BERT, mean pooling
//! over real tokens, L2-normalized, in batches.

use crate::error::LocalError;
use crate::threads::Compute;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use mmsafe_core::{EmbedError, Embedder};
use std::path::Path;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// Texts per forward pass; longer inputs are split into chunks of this size.
pub const BATCH: usize = 32;
/// Tokens per text after truncation (the model was trained on 256).
pub const MAX_TOKENS: usize = 256;

pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    compute: Compute,
    device: Device,
}

impl MiniLm {
    /// Load from a folder holding `model.safetensors`, `tokenizer.json`, `config.json`.
    pub fn load(dir: &Path, compute: Compute) -> Result<MiniLm, LocalError> {
        let cfg_path = dir.join(crate::models::catalog::MINILM_CONFIG);
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| LocalError::io(&cfg_path, e))?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|e| LocalError::model(cfg_path.display().to_string(), e))?;
        let tok_path = dir.join(crate::models::catalog::MINILM_TOKENIZER);
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| LocalError::model(tok_path.display().to_string(), e))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| LocalError::model(tok_path.display().to_string(), e))?;
        let weights = dir.join(crate::models::catalog::MINILM_WEIGHTS);
        let device = crate::threads::device();
        // SAFETY: the file is mapped read-only; the cache is not modified while loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| LocalError::model(weights.display().to_string(), e))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| LocalError::model(weights.display().to_string(), e))?;
        Ok(MiniLm {
            model,
            tokenizer,
            dim: config.hidden_size,
            compute,
            device,
        })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenize: {e}"))?;
        let n = enc.len();
        let len = enc.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let ids: Vec<u32> = enc.iter().flat_map(|e| e.get_ids().to_vec()).collect();
        let mask: Vec<u32> = enc
            .iter()
            .flat_map(|e| e.get_attention_mask().to_vec())
            .collect();
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        self.compute.run(run).map_err(|e| e.to_string())
    }
}

impl Embedder for MiniLm {
    fn name(&self) -> &str {
        "all-minilm-l6-v2"
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk).map_err(EmbedError)?);
        }
        Ok(out)
    }
}
