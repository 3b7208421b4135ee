//! Build defense stacks from policy specs (`none`, a preset name, or a policy TOML file).
//!
//! The guard crate takes its models through `mmsafe_guard::Resolver`; this is
//! the one implementation: OCR and embeddings from mmsafe-local (loaded once
//! per process, errors name the `mmsafe models pull …` to run), guard-model
//! and detoxifier targets and judges from the other wiring files.

use anyhow::Context as _;
use mmsafe_core::{DynJudge, DynTarget, Embedder, Layer, Ocr, PairScorer};
use mmsafe_guard::{Guard, Policy, Resolver};
use mmsafe_target::TargetOptions;
use std::sync::{Arc, Mutex};

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

/// Longest side of the guard's first OCR detection pass. A guard adds the
/// OCR to every image request, so it trades a little detection resolution for
/// latency: text at least ~14 px high in a 320 px map (FigStep's 80 px font in
/// a 760 px image is ~34 px) is found in this pass; smaller text, or none,
/// still triggers mmsafe-local's full-resolution pass, so recall on small
/// text is unchanged.
pub const GUARD_OCR_DET_SIDE: u32 = 320;

static GUARD_OCR: Mutex<Option<Arc<dyn Ocr>>> = Mutex::new(None);

/// The guard's OCR engine (PP-OCRv5 mobile, one compute thread), loaded once
/// per process; errors name the `mmsafe models pull` to run.
pub fn guard_ocr() -> Result<Arc<dyn Ocr>, String> {
    use mmsafe_local::models::{catalog, find, Manager};
    let mut slot = GUARD_OCR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(o) = slot.as_ref() {
        return Ok(o.clone());
    }
    crate::wiring::models::ensure(&[catalog::PPOCR]).map_err(|e| format!("{e:#}"))?;
    let spec = find(catalog::PPOCR)
        .ok_or_else(|| format!("model `{}` is not in the catalog", catalog::PPOCR))?;
    let dir = Manager::from_env()
        .and_then(|m| m.require(&spec))
        .map_err(|e| e.to_string())?;
    let ocr = mmsafe_local::ocr::PaddleOcr::load(&dir, mmsafe_local::Compute::new(1))
        .map_err(|e| e.to_string())?;
    let params = mmsafe_local::ocr::OcrParams {
        det_fast_side: GUARD_OCR_DET_SIDE,
        ..ocr.params().clone()
    };
    let o: Arc<dyn Ocr> = Arc::new(ocr.with_params(params));
    *slot = Some(o.clone());
    Ok(o)
}

/// Replace the guard's OCR engine for this process (`guard eval` wraps it in
/// a memo so that the policies it compares read each image once).
pub fn set_guard_ocr(ocr: Arc<dyn Ocr>) {
    *GUARD_OCR.lock().unwrap_or_else(|p| p.into_inner()) = Some(ocr);
}

impl Resolver for CliResolver {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        guard_ocr()
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        crate::wiring::models::ensure(&[mmsafe_local::models::catalog::MINILM])
            .map_err(|e| format!("{e:#}"))?;
        mmsafe_local::default_embedder().map_err(|e| e.to_string())
    }
    fn target(&self, spec: &str) -> Result<DynTarget, String> {
        crate::wiring::targets::build_target(spec, &self.opts).map_err(|e| format!("{e:#}"))
    }
    fn judge(&self, spec: &str) -> Result<DynJudge, String> {
        crate::wiring::judges::build_judge(spec, &self.opts).map_err(|e| format!("{e:#}"))
    }
    fn harm_scorer(&self, file: Option<&str>) -> Result<Arc<dyn PairScorer>, String> {
        harm_scorer(file)
    }
}

/// The `harm` classifier's model: the shipped one, or a file written by
/// `mmsafe guard train`; loaded once per process and file.
pub fn harm_scorer(file: Option<&str>) -> Result<Arc<dyn PairScorer>, String> {
    type Loaded = Vec<(Option<String>, Arc<dyn PairScorer>)>;
    static LOADED: Mutex<Loaded> = Mutex::new(Vec::new());
    let mut slot = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    let key = file.map(str::to_string);
    if let Some((_, s)) = slot.iter().find(|(k, _)| *k == key) {
        return Ok(s.clone());
    }
    let scorer: Arc<dyn PairScorer> = match file {
        None => mmsafe_local::cross_encoder(
            mmsafe_guard::harm::SHIPPED,
            mmsafe_guard::harm::SHIPPED_NAME,
        ),
        Some(path) => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("classifier `harm:{path}`: {e}"))?;
            mmsafe_local::cross_encoder(&bytes, path)
        }
    }
    .map_err(|e| e.to_string())?;
    slot.push((key, scorer.clone()));
    Ok(scorer)
}

#[cfg(test)]
mod tests {
    use mmsafe_core::Image;

    /// The guard's faster detection must read FigStep-size text as well as
    /// mmsafe-local's default settings (real model; skipped without it).
    #[test]
    fn guard_ocr_reads_figstep_text_like_the_default() {
        let (guard, default) = match (
            super::guard_ocr(),
            mmsafe_local::default_ocr().map_err(|e| e.to_string()),
        ) {
            (Ok(g), Ok(d)) => (g, d),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("skipped: OCR model not available ({e})");
                return;
            }
        };
        let r = mmsafe_attack::FigStepRenderer::standard().unwrap();
        let words = |t: &str| -> Vec<String> {
            t.split_whitespace()
                .map(|w| {
                    w.trim_matches(|c: char| !c.is_alphanumeric())
                        .to_lowercase()
                })
                .filter(|w| !w.is_empty())
                .collect()
        };
        let (mut same, mut total) = (0usize, 0usize);
        for (i, text) in [
            "Steps to bake sourdough bread.",
            "Methods to repair a bicycle tire at home.",
            "List of ways to plant a vegetable garden.",
            "Steps to fold a paper crane.",
        ]
        .iter()
        .enumerate()
        {
            let img = Image::png(r.render_png(text).unwrap());
            let want = words(&default.read_text(&img).unwrap());
            let got = words(&guard.read_text(&img).unwrap());
            total += want.len();
            same += want.iter().filter(|w| got.contains(w)).count();
            assert!(!got.is_empty(), "image {i}: guard OCR read nothing");
        }
        assert!(
            same * 100 >= total * 95,
            "guard OCR matched {same} of {total} words of the default OCR"
        );
    }
}
