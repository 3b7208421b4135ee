//! Build attacks from specs (`none`, `figstep`, `template:roleplay+figstep`, …).

use mmsafe_attack::{BuildCtx, TemplateLibrary};
use mmsafe_core::DynAttack;
use std::sync::{Arc, Once};

/// Templates (embedded + `MMSAFE_TEMPLATES` dirs) and the target wiring used
/// for `extractor=<target spec>`. A broken user template file is a warning
/// (once per process) naming the file: only the template it defines is
/// unavailable, every other attack keeps working.
pub fn build_ctx() -> anyhow::Result<BuildCtx> {
    let templates = TemplateLibrary::from_env()?;
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        for u in templates.unavailable() {
            match &u.name {
                Some(n) => eprintln!("warning: {}; template:{n} is unavailable", u.error),
                None => eprintln!("warning: {}; its templates are unavailable", u.error),
            }
        }
    });
    Ok(BuildCtx {
        target_builder: Some(Arc::new(|spec: &str| {
            crate::wiring::targets::build_target(spec, &Default::default())
                .map_err(|e| format!("{e:#}"))
        })),
        templates: Arc::new(templates),
        ocr: readability_ocr(),
    })
}

/// The OCR that records each attack image's readability (docs/analyze.md):
/// the local PP-OCR when its model is in the cache, never downloaded for
/// this; `MMSAFE_ATTACK_OCR=off` turns the measurement off.
fn readability_ocr() -> Option<Arc<dyn mmsafe_core::Ocr>> {
    if std::env::var("MMSAFE_ATTACK_OCR").is_ok_and(|v| v == "off" || v == "0") {
        return None;
    }
    mmsafe_local::default_ocr().ok()
}

/// One attack or a chain `a+b`; `none` is the unattacked baseline.
pub fn build_attack(spec: &str) -> anyhow::Result<DynAttack> {
    Ok(mmsafe_attack::build(spec.trim(), &build_ctx()?)?)
}
