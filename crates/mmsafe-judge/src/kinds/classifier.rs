//! `classifier[:head|:FILE]`: the offline classifier judge.
//!
//! `classifier`: the shipped fine-tuned cross-encoder; `classifier:head`: the
//! shipped head on frozen embeddings; `classifier:FILE.safetensors` a
//! cross-encoder and `classifier:FILE` (any other name) a head, both as
//! written by `mmsafe judge train`.

use crate::classifier::{self, ClassifierJudge, CrossJudge, Head};
use crate::spec::{Build, JudgeKind, SpecError};
use mmsafe_core::DynJudge;
use std::sync::Arc;

pub static KIND: JudgeKind = JudgeKind {
    name: "classifier",
    usage: "classifier[:head|:<head.json>|:<model.safetensors>]",
    summary: "offline MiniLM classifier: the shipped cross-encoder, the shipped head, or a file from `judge train`",
    example: Some("classifier"),
    build,
};

fn build(b: &Build<'_>) -> Result<DynJudge, SpecError> {
    let spec = b.spec;
    let cross = |bytes: &[u8], source: &str| -> Result<DynJudge, SpecError> {
        let scorer = b
            .resolver
            .pair_scorer(bytes, source)
            .map_err(|e| SpecError::judge(spec, e))?;
        Ok(Arc::new(CrossJudge::new(spec, scorer)))
    };
    let head = match b.rest {
        None => {
            return cross(
                classifier::SHIPPED_CROSS_ENCODER,
                "assets/classifier.safetensors (shipped)",
            )
        }
        Some(path) if path.ends_with(".safetensors") => {
            let bytes = std::fs::read(path)
                .map_err(|e| SpecError::judge(spec, format!("reading {path}: {e}")))?;
            return cross(&bytes, path);
        }
        Some("head") => classifier::shipped_head().map_err(|e| SpecError::judge(spec, e))?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SpecError::judge(spec, format!("reading {path}: {e}")))?;
            Head::from_json(&text, path).map_err(|e| SpecError::judge(spec, e))?
        }
    };
    let embedder = b
        .resolver
        .embedder()
        .map_err(|e| SpecError::judge(spec, e))?;
    Ok(Arc::new(
        ClassifierJudge::new(spec, embedder, head).map_err(|e| SpecError::judge(spec, e))?,
    ))
}
