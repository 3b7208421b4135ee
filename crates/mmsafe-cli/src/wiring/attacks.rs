//! Build attacks from specs (`none`, `figstep`, `template:roleplay+figstep`, …).

use mmsafe_attack::{BuildCtx, TemplateLibrary};
use mmsafe_core::DynAttack;
use std::sync::Arc;

/// Templates (embedded + `MMSAFE_TEMPLATES` dirs) and the target wiring used
/// for `extractor=<target spec>`.
pub fn build_ctx() -> anyhow::Result<BuildCtx> {
    let templates = TemplateLibrary::from_env()?;
    Ok(BuildCtx {
        target_builder: Some(Arc::new(|spec: &str| {
            crate::wiring::targets::build_target(spec, &Default::default())
                .map_err(|e| format!("{e:#}"))
        })),
        templates: Arc::new(templates),
    })
}

/// One attack or a chain `a+b`; `none` is the unattacked baseline.
pub fn build_attack(spec: &str) -> anyhow::Result<DynAttack> {
    Ok(mmsafe_attack::build(spec.trim(), &build_ctx()?)?)
}
