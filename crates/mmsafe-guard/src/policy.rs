//! Policies: an ordered list of layers with their parameters, read from TOML
//! (a file or a built-in preset), compiled into one [`Guard`] that is itself a
//! core `Layer`. The first layer listed is the outermost: it sees the request
//! first and the response last.
//!
//! ```toml
//! name = "my-policy"        # optional; defaults to the file stem
//! fail_open = false         # let requests through when a layer errors
//! refusal = "Sorry, I can't help with that."
//! ocr_cache = 256           # images whose OCR text is kept; 0 = off
//!
//! [[layer]]
//! kind = "ocr"
//! on_injection = "block"    # block | strip | annotate | allow
//! ```
//!
//! Models come from a [`Resolver`], so this crate never loads model files or
//! opens connections itself.

use crate::check::GuardOptions;
use crate::check::Phase;
use crate::error::{GuardError, PolicyError};
pub use crate::layers::kind::Compiled;
use crate::layers::kind::{Build, Models};
use crate::layers::registry;
use mmsafe_core::{DynJudge, DynTarget, Embedder, Layer, Ocr, PairScorer, Request};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

fn d_ocr_cache() -> usize {
    crate::ocr_cache::DEFAULT_CAPACITY
}

/// Built-in presets, name → TOML.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "permissive",
        include_str!("../data/presets/permissive.toml"),
    ),
    ("balanced", include_str!("../data/presets/balanced.toml")),
    ("strict", include_str!("../data/presets/strict.toml")),
    (
        "high-recall",
        include_str!("../data/presets/high-recall.toml"),
    ),
];

/// Where the models a policy needs come from.
pub trait Resolver: Send + Sync {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String>;
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String>;
    fn target(&self, spec: &str) -> Result<DynTarget, String>;
    fn judge(&self, spec: &str) -> Result<DynJudge, String>;
    /// The `harm` classifier's scorer: the shipped model (`None`) or a file
    /// written by `mmsafe guard train`.
    fn harm_scorer(&self, file: Option<&str>) -> Result<Arc<dyn PairScorer>, String> {
        let _ = file;
        Err("this build has no `harm` classifier".into())
    }
}

/// A parsed, not yet compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub origin: String,
    pub fail_open: bool,
    pub refusal: Option<String>,
    /// Images whose OCR lines are cached (shared by the policy's layers).
    pub ocr_cache: usize,
    pub layers: Vec<LayerSpec>,
    /// Directory relative paths in the file resolve against.
    base_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LayerSpec {
    pub kind: String,
    pub params: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: Option<String>,
    #[serde(default)]
    fail_open: bool,
    refusal: Option<String>,
    #[serde(default = "d_ocr_cache")]
    ocr_cache: usize,
    #[serde(default)]
    layer: Vec<toml::Table>,
}

impl Policy {
    /// A preset name or a path to a TOML file.
    pub fn load(spec: &str) -> Result<Policy, PolicyError> {
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| *n == spec) {
            return Policy::parse(text, &format!("preset `{name}`"), name, None);
        }
        let path = Path::new(spec);
        if !path.exists() {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(PolicyError::new(
                spec,
                format!(
                    "no such file, and not a preset (presets: {}, or `none`)",
                    names.join(", ")
                ),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::new(path.display().to_string(), e.to_string()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| spec.to_string());
        Policy::parse(&text, &path.display().to_string(), &stem, path.parent())
    }

    pub fn parse(
        text: &str,
        origin: &str,
        default_name: &str,
        base_dir: Option<&Path>,
    ) -> Result<Policy, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::new(origin, e.to_string()))?;
        let mut layers = Vec::new();
        for (i, mut t) in file.layer.into_iter().enumerate() {
            let kind = match t.remove("kind") {
                Some(toml::Value::String(k)) => k,
                Some(other) => {
                    return Err(PolicyError::new(
                        origin,
                        format!("layer {}: `kind` must be a string, got {other}", i + 1),
                    ))
                }
                None => {
                    return Err(PolicyError::new(
                        origin,
                        format!("layer {}: missing `kind`", i + 1),
                    ))
                }
            };
            if registry::find(&kind).is_none() {
                let names = registry::names();
                let hint = mmsafe_core::params::did_you_mean(&kind, &names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(PolicyError::new(
                    origin,
                    format!(
                        "layer {}: unknown kind `{kind}`{hint}; kinds: {}",
                        i + 1,
                        names.join(", ")
                    ),
                ));
            }
            layers.push(LayerSpec { kind, params: t });
        }
        if layers.is_empty() {
            return Err(PolicyError::new(
                origin,
                "no [[layer]] entries (use `none` for no defense)",
            ));
        }
        Ok(Policy {
            name: file.name.unwrap_or_else(|| default_name.to_string()),
            origin: origin.to_string(),
            fail_open: file.fail_open,
            refusal: file.refusal,
            ocr_cache: file.ocr_cache,
            layers,
            base_dir: base_dir.map(Path::to_path_buf),
        })
    }

    /// Build every layer, loading the models it needs through `resolver`.
    pub fn compile(&self, resolver: &dyn Resolver) -> Result<Guard, PolicyError> {
        let mut opts = GuardOptions {
            fail_open: self.fail_open,
            ..GuardOptions::default()
        };
        if let Some(r) = &self.refusal {
            opts.refusal = Arc::from(r.as_str());
        }
        let mut models = Models::new(resolver, self.ocr_cache);
        let mut layers = Vec::new();
        for (i, spec) in self.layers.iter().enumerate() {
            let at = |m: String| {
                PolicyError::new(
                    &self.origin,
                    format!("layer {} ({}): {m}", i + 1, spec.kind),
                )
            };
            let kind = registry::find(&spec.kind).ok_or_else(|| at("unknown kind".into()))?;
            let mut build = Build {
                kind: kind.name,
                params: &spec.params,
                opts: &opts,
                base_dir: self.base_dir.as_deref(),
                models: &mut models,
            };
            layers.push((kind.build)(&mut build).map_err(at)?);
        }
        Ok(Guard {
            name: self.name.clone(),
            layers,
            stack: OnceLock::new(),
        })
    }
}

/// A compiled policy: one `Layer` whose `layer(inner)` builds the whole stack.
pub struct Guard {
    name: String,
    layers: Vec<Compiled>,
    stack: OnceLock<Vec<Arc<dyn Layer>>>,
}

impl Guard {
    pub fn layers(&self) -> &[Compiled] {
        &self.layers
    }

    /// Precompute every layer's lazy state (library and prototype
    /// embeddings), so the first request is not slower than the rest. Blocking.
    pub fn warm_up(&self) -> Result<(), GuardError> {
        self.layers
            .iter()
            .filter_map(|c| c.check.as_ref())
            .try_for_each(|c| c.warm_up())
    }

    /// Run the request-side checks in order, without any target: what
    /// `mmsafe guard check` prints. Stops at the first block.
    pub async fn check_request(&self, req: &Request) -> Result<CheckReport, GuardError> {
        let mut req = req.clone();
        let mut steps = Vec::new();
        let mut decision = "allow";
        for c in &self.layers {
            let Some(check) = c.check.as_ref().filter(|ch| ch.checks_request()) else {
                steps.push(CheckStep {
                    name: c.name.clone(),
                    decision: "skipped".into(),
                    reason: "needs the target or its answer".into(),
                    ms: 0.0,
                    detail: serde_json::Value::Null,
                });
                continue;
            };
            let t = Instant::now();
            let d = check.on_request(&req).await?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let ev = d.event(&c.name, Phase::Request, ms);
            steps.push(CheckStep {
                name: c.name.clone(),
                decision: ev.decision.clone(),
                reason: ev.reason.clone(),
                ms,
                detail: ev.detail,
            });
            match d.action {
                crate::check::Action::Block => {
                    decision = "block";
                    break;
                }
                crate::check::Action::Rewrite(r) => {
                    req = r;
                    decision = "rewrite";
                }
                _ => {}
            }
        }
        Ok(CheckReport {
            decision: decision.into(),
            layers: steps,
            request: req,
        })
    }
}

impl Layer for Guard {
    fn name(&self) -> &str {
        &self.name
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        let layers = self
            .stack
            .get_or_init(|| self.layers.iter().map(|c| c.layer.clone()).collect());
        mmsafe_core::target::stack(layers, inner)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckStep {
    pub name: String,
    /// `pass`, `flag`, `rewrite`, `block` or `skipped`.
    pub decision: String,
    pub reason: String,
    pub ms: f64,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The outcome of the request-side checks.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `allow`, `block` or `rewrite`.
    pub decision: String,
    pub layers: Vec<CheckStep>,
    /// The request as the target would receive it.
    pub request: Request,
}
