//! `prompt:adaptive` — AdaShield-A in spirit (methods.md §7.3): a library of
//! scenario-specific defense prompts; the request (its text plus the OCR text
//! of its images) is embedded and the closest scenario's prompt is added when
//! the similarity reaches `threshold`, else nothing is added (no over-defense
//! on benign requests).
//!
//! The paper embeds images with CLIP; here the image enters through its OCR
//! text, which is what typographic attacks put in it.
//!
//! Library: JSON Lines, one `{"scenario", "keys": [..], "prompt"}` per line.
//! `keys` are example requests or descriptions of the scenario; `mmsafe guard
//! tune` appends entries learned from successful attacks.

use super::kind::{yes, Build, Compiled, LayerKind};
use super::{insert_prompt, Placement};
use crate::check::{Check, Decision};
use crate::error::GuardError;
use crate::ocr_cache::SharedOcr;
use async_trait::async_trait;
use mmsafe_core::{cosine, Embedder, Request};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The built-in library: one entry per MM-SafetyBench scenario, written by us.
pub const BUILTIN_LIBRARY: &str = include_str!("../../data/adaptive_prompts.jsonl");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryEntry {
    pub scenario: String,
    pub keys: Vec<String>,
    pub prompt: String,
}

/// Parse a library; errors name the line.
pub fn parse_library(text: &str, origin: &str) -> Result<Vec<LibraryEntry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let e: LibraryEntry =
            serde_json::from_str(line).map_err(|e| format!("{origin}:{}: {e}", i + 1))?;
        if e.keys.is_empty() || e.prompt.trim().is_empty() {
            return Err(format!(
                "{origin}:{}: entry `{}` needs at least one key and a prompt",
                i + 1,
                e.scenario
            ));
        }
        out.push(e);
    }
    if out.is_empty() {
        return Err(format!("{origin}: the library has no entries"));
    }
    Ok(out)
}

pub fn load_library(path: &Path) -> Result<Vec<LibraryEntry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_library(&text, &path.display().to_string())
}

pub struct PromptAdaptive {
    pub library: Vec<LibraryEntry>,
    pub embedder: Arc<dyn Embedder>,
    pub ocr: Option<Arc<SharedOcr>>,
    pub threshold: f32,
    pub placement: Placement,
    /// (entry index, key vector) for every key, computed on first use.
    keys: OnceLock<Vec<(usize, Vec<f32>)>>,
}

impl PromptAdaptive {
    pub fn new(
        library: Vec<LibraryEntry>,
        embedder: Arc<dyn Embedder>,
        ocr: Option<Arc<SharedOcr>>,
        threshold: f32,
        placement: Placement,
    ) -> PromptAdaptive {
        PromptAdaptive {
            library,
            embedder,
            ocr,
            threshold,
            placement,
            keys: OnceLock::new(),
        }
    }

    fn keys(&self) -> Result<&Vec<(usize, Vec<f32>)>, String> {
        if let Some(k) = self.keys.get() {
            return Ok(k);
        }
        let mut owners = Vec::new();
        let mut texts = Vec::new();
        for (i, e) in self.library.iter().enumerate() {
            for k in &e.keys {
                owners.push(i);
                texts.push(k.as_str());
            }
        }
        let vecs = self.embedder.embed(&texts).map_err(|e| e.to_string())?;
        Ok(self
            .keys
            .get_or_init(|| owners.into_iter().zip(vecs).collect()))
    }

    /// The best entry and its similarity for a request text.
    pub fn retrieve(&self, text: &str) -> Result<Option<(usize, f32)>, String> {
        let keys = self.keys()?;
        let v = self.embedder.embed(&[text]).map_err(|e| e.to_string())?;
        let v = v.first().ok_or("embedder returned no vector")?;
        Ok(keys.iter().map(|(i, k)| (*i, cosine(v, k))).fold(
            None,
            |best: Option<(usize, f32)>, x| match best {
                Some(b) if b.1 >= x.1 => Some(b),
                _ => Some(x),
            },
        ))
    }
}

#[async_trait]
impl Check for PromptAdaptive {
    fn name(&self) -> &str {
        "prompt:adaptive"
    }
    fn warm_up(&self) -> Result<(), GuardError> {
        self.keys()
            .map(|_| ())
            .map_err(|e| GuardError::new("prompt:adaptive", e))
    }

    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        let best = crate::blocking::run(|| -> Result<_, String> {
            let mut text = req.prompt_text();
            if let Some(ocr) = &self.ocr {
                let t = ocr.request_text(req.images(), 0.5)?;
                if !t.is_empty() {
                    text.push('\n');
                    text.push_str(&t);
                }
            }
            self.retrieve(&text)
        })
        .await
        .map_err(|e| GuardError::new("prompt:adaptive", e))?;
        let Some((i, sim)) = best else {
            return Ok(Decision::pass("empty library"));
        };
        let entry = &self.library[i];
        let detail = serde_json::json!({
            "scenario": entry.scenario, "similarity": sim, "threshold": self.threshold
        });
        if sim < self.threshold {
            return Ok(Decision::pass(format!(
                "closest scenario `{}` at {sim:.3} < {:.3}; no prompt",
                entry.scenario, self.threshold
            ))
            .detail(detail));
        }
        Ok(Decision::rewrite(
            insert_prompt(req, &entry.prompt, self.placement),
            format!("scenario `{}` at {sim:.3}", entry.scenario),
        )
        .detail(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_library_parses_and_bad_lines_are_named() {
        let lib = parse_library(BUILTIN_LIBRARY, "builtin").unwrap();
        assert_eq!(lib.len(), 13);
        let e = parse_library("{\"scenario\":\"x\"}\n", "lib.jsonl").unwrap_err();
        assert!(e.starts_with("lib.jsonl:1:"), "{e}");
    }
}

pub static KIND: LayerKind = LayerKind {
    name: "prompt:adaptive",
    summary: "retrieve a scenario-specific defense prompt by embedding similarity (AdaShield-A)",
    example: "",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    library: Option<String>,
    #[serde(default = "d_threshold")]
    threshold: f32,
    #[serde(default)]
    placement: Placement,
    #[serde(default = "yes")]
    use_ocr: bool,
}
fn d_threshold() -> f32 {
    0.5
}

fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let p: Params = b.params()?;
    let library = match &p.library {
        Some(path) => load_library(&b.path(path))?,
        None => parse_library(BUILTIN_LIBRARY, "built-in library")?,
    };
    let ocr = p.use_ocr.then(|| b.models.ocr_for_images());
    let layer = PromptAdaptive::new(library, b.models.embedder()?, ocr, p.threshold, p.placement);
    Ok(b.check(Arc::new(layer)))
}
