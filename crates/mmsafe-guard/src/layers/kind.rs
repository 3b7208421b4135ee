//! The shape of one guard-layer kind, and what its constructor gets: its
//! parameters and the policy's shared models. One `pub static KIND: LayerKind`
//! per layer file; [`super::registry::LAYERS`] lists them.

use crate::check::{Check, CheckLayer, GuardOptions};
use crate::classify::{
    DynClassifier, EmbeddingClassifier, GuardFormat, JudgeClassifier, LlamaGuard,
};
use crate::ocr_cache::SharedOcr;
use crate::policy::Resolver;
use mmsafe_core::{DynTarget, Embedder, Layer};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One layer kind: the `kind = "…"` a policy names, and how to build it.
pub struct LayerKind {
    pub name: &'static str,
    /// One line for `mmsafe guard list`.
    pub summary: &'static str,
    /// Parameters (TOML body) that build it with the models every resolver
    /// offers; the conformance test compiles each kind with these.
    pub example: &'static str,
    pub build: fn(&mut Build<'_, '_>) -> Result<Compiled, String>,
}

/// One compiled layer: the `Layer` used in stacks, and the `Check` behind it
/// when it has one (for offline `guard check`).
pub struct Compiled {
    pub name: String,
    pub check: Option<Arc<dyn Check>>,
    pub layer: Arc<dyn Layer>,
}

/// What a constructor gets: its own parameters, the policy's options, and
/// the models it shares with the policy's other layers.
pub struct Build<'a, 'r> {
    pub kind: &'static str,
    pub params: &'a toml::Table,
    pub opts: &'a GuardOptions,
    /// Relative paths in the policy file resolve against this.
    pub base_dir: Option<&'a Path>,
    pub models: &'a mut Models<'r>,
}

impl Build<'_, '_> {
    /// The parameters as the kind's (deny-unknown-fields) struct.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, String> {
        toml::Value::Table(self.params.clone())
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_string())
    }

    /// A path parameter, relative to the policy file.
    pub fn path(&self, p: &str) -> PathBuf {
        match self.base_dir {
            Some(b) if Path::new(p).is_relative() => b.join(p),
            _ => PathBuf::from(p),
        }
    }

    /// A check-style layer (looks once at the request or the response).
    pub fn check(&self, c: Arc<dyn Check>) -> Compiled {
        Compiled {
            name: self.kind.to_string(),
            layer: Arc::new(CheckLayer::new(c.clone(), self.opts.clone())),
            check: Some(c),
        }
    }

    /// A layer that calls the target itself (no offline check).
    pub fn layer(&self, layer: Arc<dyn Layer>) -> Compiled {
        Compiled {
            name: self.kind.to_string(),
            check: None,
            layer,
        }
    }
}

/// The models a policy's layers share, each loaded once on first need.
pub struct Models<'r> {
    resolver: &'r dyn Resolver,
    ocr_cache: usize,
    ocr: Option<Arc<SharedOcr>>,
    embedder: Option<Arc<dyn Embedder>>,
}

impl<'r> Models<'r> {
    pub(crate) fn new(resolver: &'r dyn Resolver, ocr_cache: usize) -> Self {
        Models {
            resolver,
            ocr_cache,
            ocr: None,
            embedder: None,
        }
    }

    pub fn ocr(&mut self) -> Result<Arc<SharedOcr>, String> {
        if let Some(o) = &self.ocr {
            return Ok(o.clone());
        }
        let o = Arc::new(SharedOcr::with_capacity(
            self.resolver.ocr()?,
            self.ocr_cache,
        ));
        self.ocr = Some(o.clone());
        Ok(o)
    }

    /// OCR for layers that read images only when a request has some
    /// (`classify:input`, `prompt:adaptive`): a missing model fails image
    /// requests at run time instead of the whole policy, so text-only use
    /// works offline without the OCR model.
    pub fn ocr_for_images(&mut self) -> Arc<SharedOcr> {
        self.ocr()
            .unwrap_or_else(|e| Arc::new(SharedOcr::unavailable(e)))
    }

    pub fn embedder(&mut self) -> Result<Arc<dyn Embedder>, String> {
        if let Some(e) = &self.embedder {
            return Ok(e.clone());
        }
        let e = self.resolver.embedder()?;
        self.embedder = Some(e.clone());
        Ok(e)
    }

    pub fn target(&self, spec: &str) -> Result<DynTarget, String> {
        self.resolver.target(spec)
    }

    /// The classifier a `classifier = "…"` parameter names.
    pub fn classifier(
        &mut self,
        spec: &str,
        threshold: Option<f64>,
        format: GuardFormat,
    ) -> Result<DynClassifier, String> {
        if spec == "embedding" {
            let t = threshold.unwrap_or(0.5) as f32;
            return Ok(Arc::new(EmbeddingClassifier::new(
                self.embedder()?,
                t,
                0.05,
            )));
        }
        if spec == "harm" || spec.starts_with("harm:") {
            let file = spec.strip_prefix("harm:");
            return Ok(Arc::new(crate::harm::HarmClassifier::new(
                self.resolver.harm_scorer(file)?,
                threshold.unwrap_or(crate::harm::THRESHOLD),
            )));
        }
        if let Some(target) = spec.strip_prefix("llamaguard:") {
            return Ok(Arc::new(LlamaGuard::new(
                self.resolver.target(target)?,
                format,
            )));
        }
        if let Some(judge) = spec.strip_prefix("judge:") {
            return Ok(Arc::new(JudgeClassifier::new(
                self.resolver.judge(judge)?,
                threshold.unwrap_or(0.5),
            )));
        }
        Err(format!(
            "unknown classifier `{spec}`; use `harm`, `harm:<file>`, `embedding`, `llamaguard:<target>` or `judge:<judge>`"
        ))
    }
}

/// `guard_format = "native" | "prompt"` (how a guard-model classifier is asked).
#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FormatParam {
    #[default]
    Native,
    Prompt,
}

impl From<FormatParam> for GuardFormat {
    fn from(f: FormatParam) -> GuardFormat {
        match f {
            FormatParam::Native => GuardFormat::Native,
            FormatParam::Prompt => GuardFormat::Prompt,
        }
    }
}

/// The default classifier of the classify layers.
pub(crate) fn default_classifier() -> String {
    "embedding".into()
}

pub(crate) fn yes() -> bool {
    true
}
