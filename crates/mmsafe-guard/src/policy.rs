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

use crate::check::{Check, CheckLayer, GuardOptions, Phase};
use crate::classify::{
    DynClassifier, EmbeddingClassifier, GuardFormat, JudgeClassifier, LlamaGuard,
};
use crate::error::{GuardError, PolicyError};
use crate::layers::{
    classify_input::ClassifyInputLayer,
    classify_output::{ClassifyOutputLayer, OnUnsafe},
    ecso::Ecso,
    jailguard::JailGuard,
    ocr::{OcrAction, OcrLayer},
    prompt_adaptive::{load_library, parse_library, PromptAdaptive, BUILTIN_LIBRARY},
    prompt_static::{PromptStatic, DEFAULT_PROMPT},
    purify::{Purify, PurifyParams},
    Placement,
};
use crate::ocr_cache::SharedOcr;
use mmsafe_core::{DynJudge, DynTarget, Embedder, Layer, Ocr, PairScorer, Request};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

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

/// Every layer kind a policy may use, with a one-line summary.
pub const KINDS: &[(&str, &str)] = &[
    (
        "prompt:static",
        "append a fixed defense prompt (AdaShield-S in spirit)",
    ),
    (
        "prompt:adaptive",
        "retrieve a scenario-specific defense prompt by embedding similarity (AdaShield-A)",
    ),
    (
        "ocr",
        "read image text; block, strip, annotate or allow injections and harmful text",
    ),
    (
        "classify:input",
        "classify the request text plus image text; block if unsafe",
    ),
    (
        "purify",
        "JPEG re-encode, bit-depth reduction, resize, blur images",
    ),
    (
        "jailguard",
        "answer N mutated variants; flag divergent answers (JailGuard)",
    ),
    (
        "ecso",
        "self-check the answer; if unsafe, re-answer from a caption without the image (ECSO)",
    ),
    (
        "classify:output",
        "classify the answer; block, flag or detox it",
    ),
    (
        "detox",
        "classify the answer; rewrite unsafe answers through a detoxifier target (MLLM-Protector)",
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
            if !KINDS.iter().any(|(k, _)| *k == kind) {
                let names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
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
        let mut ctx = Ctx {
            resolver,
            ocr_cache: self.ocr_cache,
            ocr: None,
            embedder: None,
        };
        let mut layers = Vec::new();
        for (i, spec) in self.layers.iter().enumerate() {
            let built =
                build_layer(spec, &mut ctx, &opts, self.base_dir.as_deref()).map_err(|m| {
                    PolicyError::new(
                        &self.origin,
                        format!("layer {} ({}): {m}", i + 1, spec.kind),
                    )
                })?;
            layers.push(built);
        }
        Ok(Guard {
            name: self.name.clone(),
            layers,
            stack: OnceLock::new(),
        })
    }
}

struct Ctx<'a> {
    resolver: &'a dyn Resolver,
    ocr_cache: usize,
    ocr: Option<Arc<SharedOcr>>,
    embedder: Option<Arc<dyn Embedder>>,
}

impl Ctx<'_> {
    fn ocr(&mut self) -> Result<Arc<SharedOcr>, String> {
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
    fn ocr_for_images(&mut self) -> Arc<SharedOcr> {
        self.ocr()
            .unwrap_or_else(|e| Arc::new(SharedOcr::unavailable(e)))
    }
    fn embedder(&mut self) -> Result<Arc<dyn Embedder>, String> {
        if let Some(e) = &self.embedder {
            return Ok(e.clone());
        }
        let e = self.resolver.embedder()?;
        self.embedder = Some(e.clone());
        Ok(e)
    }
    fn classifier(
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

fn params<T: DeserializeOwned>(t: &toml::Table) -> Result<T, String> {
    toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticP {
    prompt: Option<String>,
    #[serde(default = "append")]
    placement: Placement,
}
fn append() -> Placement {
    Placement::Append
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdaptiveP {
    library: Option<String>,
    #[serde(default = "d_adaptive_threshold")]
    threshold: f32,
    #[serde(default = "append")]
    placement: Placement,
    #[serde(default = "yes")]
    use_ocr: bool,
}
fn d_adaptive_threshold() -> f32 {
    0.5
}
fn d_ocr_cache() -> usize {
    crate::ocr_cache::DEFAULT_CAPACITY
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OcrP {
    #[serde(default = "block")]
    on_injection: OcrAction,
    #[serde(default = "block")]
    on_harmful: OcrAction,
    classifier: Option<String>,
    threshold: Option<f64>,
    #[serde(default = "d_min_chars")]
    min_chars: usize,
    #[serde(default = "d_min_conf")]
    min_confidence: f32,
}
fn block() -> OcrAction {
    OcrAction::Block
}
fn d_min_chars() -> usize {
    8
}
fn d_min_conf() -> f32 {
    0.5
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum FormatP {
    Native,
    Prompt,
}
fn native() -> FormatP {
    FormatP::Native
}
impl From<FormatP> for GuardFormat {
    fn from(f: FormatP) -> GuardFormat {
        match f {
            FormatP::Native => GuardFormat::Native,
            FormatP::Prompt => GuardFormat::Prompt,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputP {
    #[serde(default = "d_classifier")]
    classifier: String,
    threshold: Option<f64>,
    #[serde(default = "d_block")]
    action: String,
    #[serde(default = "yes")]
    use_ocr: bool,
    #[serde(default = "native")]
    guard_format: FormatP,
}
fn d_classifier() -> String {
    "embedding".into()
}
fn d_block() -> String {
    "block".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputP {
    #[serde(default = "d_classifier")]
    classifier: String,
    threshold: Option<f64>,
    action: Option<String>,
    /// Detoxifier target spec (for `action = "detox"` and kind `detox`).
    target: Option<String>,
    #[serde(default = "native")]
    guard_format: FormatP,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JailGuardP {
    #[serde(default = "d_variants")]
    variants: usize,
    #[serde(default = "d_tt")]
    threshold_text: f64,
    #[serde(default = "d_ti")]
    threshold_image: f64,
    #[serde(default = "d_truncate")]
    truncate: usize,
}
fn d_variants() -> usize {
    8
}
fn d_tt() -> f64 {
    0.02
}
fn d_ti() -> f64 {
    0.025
}
fn d_truncate() -> usize {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EcsoP {
    #[serde(default = "d_check_tokens")]
    max_tokens_check: u32,
}
fn d_check_tokens() -> u32 {
    256
}

fn build_layer(
    spec: &LayerSpec,
    ctx: &mut Ctx<'_>,
    opts: &GuardOptions,
    base: Option<&Path>,
) -> Result<Compiled, String> {
    let check = |c: Arc<dyn Check>| Compiled {
        name: spec.kind.clone(),
        layer: Arc::new(CheckLayer::new(c.clone(), opts.clone())),
        check: Some(c),
    };
    let p = &spec.params;
    Ok(match spec.kind.as_str() {
        "prompt:static" => {
            let sp: StaticP = params(p)?;
            check(Arc::new(PromptStatic {
                prompt: sp.prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_string()),
                placement: sp.placement,
            }))
        }
        "prompt:adaptive" => {
            let ap: AdaptiveP = params(p)?;
            let library = match &ap.library {
                Some(path) => {
                    let path = match base {
                        Some(b) if Path::new(path).is_relative() => b.join(path),
                        _ => PathBuf::from(path),
                    };
                    load_library(&path)?
                }
                None => parse_library(BUILTIN_LIBRARY, "built-in library")?,
            };
            let ocr = ap.use_ocr.then(|| ctx.ocr_for_images());
            check(Arc::new(PromptAdaptive::new(
                library,
                ctx.embedder()?,
                ocr,
                ap.threshold,
                ap.placement,
            )))
        }
        "ocr" => {
            let op: OcrP = params(p)?;
            let classifier = match &op.classifier {
                Some(c) => Some(ctx.classifier(c, op.threshold, GuardFormat::Prompt)?),
                None if op.on_harmful != OcrAction::Allow => {
                    return Err(
                        "`on_harmful` needs a `classifier` (or set `on_harmful = \"allow\"`)"
                            .into(),
                    )
                }
                None => None,
            };
            check(Arc::new(OcrLayer {
                ocr: ctx.ocr()?,
                classifier,
                on_injection: op.on_injection,
                on_harmful: op.on_harmful,
                min_chars: op.min_chars,
                min_confidence: op.min_confidence,
            }))
        }
        "classify:input" => {
            let ip: InputP = params(p)?;
            let block = match ip.action.as_str() {
                "block" => true,
                "flag" => false,
                other => return Err(format!("`action` = `{other}`: use `block` or `flag`")),
            };
            let classifier =
                ctx.classifier(&ip.classifier, ip.threshold, ip.guard_format.into())?;
            let ocr = ip.use_ocr.then(|| ctx.ocr_for_images());
            check(Arc::new(ClassifyInputLayer {
                classifier,
                ocr,
                block,
            }))
        }
        "purify" => {
            let pp: PurifyParams = params(p)?;
            check(Arc::new(Purify { params: pp }))
        }
        kind @ ("classify:output" | "detox") => {
            let op: OutputP = params(p)?;
            let default_action = if kind == "detox" { "detox" } else { "block" };
            let action = op.action.as_deref().unwrap_or(default_action);
            let on_unsafe = match action {
                "block" => OnUnsafe::Block,
                "flag" => OnUnsafe::Flag,
                "detox" => {
                    let t = op
                        .target
                        .as_deref()
                        .ok_or("`detox` needs `target = \"<target spec>\"` (the detoxifier)")?;
                    OnUnsafe::Detox(ctx.resolver.target(t)?)
                }
                other => {
                    return Err(format!(
                        "`action` = `{other}`: use `block`, `flag` or `detox`"
                    ))
                }
            };
            let classifier =
                ctx.classifier(&op.classifier, op.threshold, op.guard_format.into())?;
            check(Arc::new(ClassifyOutputLayer {
                name: if kind == "detox" {
                    "detox"
                } else {
                    "classify:output"
                },
                classifier,
                on_unsafe,
            }))
        }
        "jailguard" => {
            let jp: JailGuardP = params(p)?;
            if jp.variants < 2 {
                return Err("`variants` must be at least 2".into());
            }
            Compiled {
                name: spec.kind.clone(),
                check: None,
                layer: Arc::new(JailGuard {
                    embedder: ctx.embedder()?,
                    variants: jp.variants,
                    threshold_text: jp.threshold_text,
                    threshold_image: jp.threshold_image,
                    truncate: jp.truncate,
                    opts: opts.clone(),
                }),
            }
        }
        "ecso" => {
            let ep: EcsoP = params(p)?;
            Compiled {
                name: spec.kind.clone(),
                check: None,
                layer: Arc::new(Ecso {
                    opts: opts.clone(),
                    max_tokens_check: ep.max_tokens_check,
                }),
            }
        }
        other => return Err(format!("unknown kind `{other}`")),
    })
}

/// One compiled layer: the `Layer` used in stacks, and the `Check` behind it
/// when it has one (for offline `guard check`).
pub struct Compiled {
    pub name: String,
    pub check: Option<Arc<dyn Check>>,
    pub layer: Arc<dyn Layer>,
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
