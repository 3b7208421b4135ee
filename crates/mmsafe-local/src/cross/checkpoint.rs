//! Resumable fine-tuning: the trained weights, the optimiser's moments and
//! the dropout stream's position after a step, in one safetensors file.
//!
//! A run resumed from a checkpoint finishes with the same bytes as a run
//! that was never stopped: the batch order is replayed from the seed, and
//! everything else that changes during training is in the file. The file
//! names the exact run it belongs to (a fingerprint of the data, settings
//! and thread count), so it is never applied to a different one.

use crate::error::LocalError;
use candle_core::{DType, Device, Tensor};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

const KEY: &str = "mmsafe-checkpoint";
const FORMAT: &str = "mmsafe-finetune-checkpoint/1";

/// Everything a resumed run needs.
pub struct Checkpoint {
    pub fingerprint: String,
    /// Training steps completed.
    pub step: usize,
    /// Position of the dropout stream after `step` steps.
    pub dropout_pos: u128,
    /// (name, weights, first moment, second moment) per trained tensor.
    pub tensors: Vec<(String, Tensor, Tensor, Tensor)>,
}

/// A hex digest naming one training run: what it learns from and how.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{:x}", h.finalize())
}

fn bad(path: &Path, m: impl std::fmt::Display) -> LocalError {
    LocalError::model(path.display().to_string(), format!("checkpoint: {m}"))
}

impl Checkpoint {
    /// Write atomically (a temporary file renamed over `path`), so a run
    /// killed while saving leaves the previous checkpoint intact.
    pub fn save(&self, path: &Path) -> Result<(), LocalError> {
        let meta = serde_json::json!({
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "step": self.step,
            "dropout_pos": self.dropout_pos.to_string(),
        });
        let mut named = Vec::with_capacity(self.tensors.len() * 3);
        for (name, w, m, v) in &self.tensors {
            named.push((format!("w/{name}"), w.clone()));
            named.push((format!("m/{name}"), m.clone()));
            named.push((format!("v/{name}"), v.clone()));
        }
        let bytes = safetensors::serialize(
            named,
            Some(HashMap::from([(KEY.to_string(), meta.to_string())])),
        )
        .map_err(|e| bad(path, e))?;
        let tmp = path.with_extension("ckpt-tmp");
        std::fs::write(&tmp, bytes).map_err(|e| bad(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| bad(path, e))
    }

    /// Read a checkpoint whose tensors are named in `names` order.
    pub fn load(path: &Path, names: &[String]) -> Result<Checkpoint, LocalError> {
        let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(path, format!("not a safetensors file: {e}")))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(path, format!("not a safetensors file: {e}")))?;
        let meta: serde_json::Value = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(KEY))
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| bad(path, format!("no `{KEY}` metadata")))?;
        if meta["format"] != FORMAT {
            return Err(bad(
                path,
                format!("format {} (expected {FORMAT})", meta["format"]),
            ));
        }
        let field = |k: &str| {
            meta[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(path, format!("missing `{k}`")))
        };
        let fingerprint = field("fingerprint")?;
        let dropout_pos = field("dropout_pos")?
            .parse()
            .map_err(|e| bad(path, format!("`dropout_pos`: {e}")))?;
        let step = meta["step"]
            .as_u64()
            .ok_or_else(|| bad(path, "missing `step`"))? as usize;
        let tensor = |key: String| -> Result<Tensor, LocalError> {
            let view = st
                .tensor(&key)
                .map_err(|e| bad(path, format!("`{key}`: {e}")))?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(bad(path, format!("`{key}` is not f32")));
            }
            Tensor::from_raw_buffer(view.data(), DType::F32, view.shape(), &Device::Cpu)
                .map_err(|e| bad(path, format!("`{key}`: {e}")))
        };
        let tensors = names
            .iter()
            .map(|n| {
                Ok((
                    n.clone(),
                    tensor(format!("w/{n}"))?,
                    tensor(format!("m/{n}"))?,
                    tensor(format!("v/{n}"))?,
                ))
            })
            .collect::<Result<Vec<_>, LocalError>>()?;
        Ok(Checkpoint {
            fingerprint,
            step,
            dropout_pos,
            tensors,
        })
    }
}
