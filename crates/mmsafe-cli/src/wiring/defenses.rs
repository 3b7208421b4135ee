//! Build defense stacks from policy specs (`none`, a preset name, or a policy TOML file).
//!
//! The guard crate takes its models through `mmsafe_guard::Resolver`; this is
//! the one implementation: OCR and embeddings from mmsafe-local (loaded once
//! per process, errors name the `mmsafe models pull …` to run), guard-model
//! and detoxifier targets and judges from the other wiring files.

use anyhow::Context as _;
use mmsafe_core::{DynJudge, DynTarget, Embedder, Layer, Ocr};
use mmsafe_guard::{Guard, Policy, Resolver};
use mmsafe_target::TargetOptions;
use std::sync::Arc;

/// `Ok(None)` for `none` (undefended).
pub fn build_defense(spec: &str, opts: &TargetOptions) -> anyhow::Result<Option<Arc<dyn Layer>>> {
    if spec == "none" {
        return Ok(None);
    }
    Ok(Some(Arc::new(build_guard(spec, opts, None)?)))
}

/// Load and compile a policy; `fail_open` overrides the file's setting.
pub fn build_guard(
    spec: &str,
    opts: &TargetOptions,
    fail_open: Option<bool>,
) -> anyhow::Result<Guard> {
    let mut policy = Policy::load(spec)?;
    if let Some(f) = fail_open {
        policy.fail_open = f;
    }
    compile_policy(&policy, opts).with_context(|| format!("defense `{spec}`"))
}

/// Compile an already parsed policy with the CLI's models and targets.
pub fn compile_policy(policy: &Policy, opts: &TargetOptions) -> anyhow::Result<Guard> {
    let resolver = CliResolver { opts: opts.clone() };
    Ok(policy.compile(&resolver)?)
}

struct CliResolver {
    opts: TargetOptions,
}

impl Resolver for CliResolver {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        mmsafe_local::default_ocr().map_err(|e| e.to_string())
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        mmsafe_local::default_embedder().map_err(|e| e.to_string())
    }
    fn target(&self, spec: &str) -> Result<DynTarget, String> {
        crate::wiring::targets::build_target(spec, &self.opts).map_err(|e| format!("{e:#}"))
    }
    fn judge(&self, spec: &str) -> Result<DynJudge, String> {
        crate::wiring::judges::build_judge(spec, &self.opts).map_err(|e| format!("{e:#}"))
    }
}
