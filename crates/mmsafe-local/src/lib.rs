//! Offline models: model manager, GGUF LLM runtime, OCR, sentence embeddings,
//! and the `local:smollm2` pipeline target.
//!
//! Nothing here downloads at load time: loaders read the model cache
//! (`mmsafe models pull <name>` fills it) and fail with an error that names
//! the missing file and the command to run.

pub mod cross;
pub mod embed;
pub mod error;
pub mod llm;
pub mod models;
pub mod ocr;
pub mod target;
pub mod threads;

pub use error::LocalError;
pub use target::LocalTarget;
pub use threads::Compute;

use mmsafe_core::{Embedder, Ocr};
use models::catalog;
use std::sync::{Arc, Mutex};

fn model_dir(name: &str) -> Result<std::path::PathBuf, LocalError> {
    let spec = catalog::find(name).ok_or_else(|| LocalError::UnknownModel {
        name: name.to_string(),
        known: known_models(),
    })?;
    models::Manager::from_env()?.require(&spec)
}

/// Names of every model in the catalog, comma-separated.
pub fn known_models() -> String {
    catalog::catalog()
        .iter()
        .map(|m| m.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

static OCR: Mutex<Option<Arc<ocr::PaddleOcr>>> = Mutex::new(None);
static EMBEDDER: Mutex<Option<Arc<embed::MiniLm>>> = Mutex::new(None);

/// The default OCR engine (PP-OCRv5 mobile on rten, one compute thread),
/// loaded once per process from the model cache.
pub fn default_ocr() -> Result<Arc<dyn Ocr>, LocalError> {
    let mut slot = OCR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(o) = slot.as_ref() {
        return Ok(o.clone());
    }
    let dir = model_dir(catalog::PPOCR)?;
    let o = Arc::new(ocr::PaddleOcr::load(&dir, Compute::new(1))?);
    *slot = Some(o.clone());
    Ok(o)
}

/// The default sentence embedder (all-MiniLM-L6-v2, 384-d, one compute
/// thread), loaded once per process from the model cache.
pub fn default_embedder() -> Result<Arc<dyn Embedder>, LocalError> {
    let mut slot = EMBEDDER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = slot.as_ref() {
        return Ok(e.clone());
    }
    let dir = model_dir(catalog::MINILM)?;
    let e = Arc::new(embed::MiniLm::load(&dir, Compute::new(1))?);
    *slot = Some(e.clone());
    Ok(e)
}

/// The folder of the cached all-MiniLM-L6-v2 (the cross-encoder's base).
pub fn minilm_dir() -> Result<std::path::PathBuf, LocalError> {
    model_dir(catalog::MINILM)
}

/// A fine-tuned cross-encoder (`finetuned`: the bytes of a file written by
/// `mmsafe judge train --finetune-layers`; `source` names it in errors) on
/// the cached base model, one compute thread.
pub fn cross_encoder(
    finetuned: &[u8],
    source: &str,
) -> Result<Arc<cross::CrossEncoder>, LocalError> {
    Ok(Arc::new(cross::CrossEncoder::load(
        &minilm_dir()?,
        finetuned,
        source,
        Compute::new(1),
    )?))
}
