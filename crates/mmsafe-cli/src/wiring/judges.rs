//! Build judges from specs through `mmsafe_judge::registry` (the table of
//! judge kinds), with the models they need from the other wiring files:
//! targets for `llm:` and `llamaguard:`, MiniLM from mmsafe-local for
//! `classifier` (pulled on first use, like every offline model).

use crate::wiring::targets::build_target;
use mmsafe_core::{DynJudge, DynTarget, Embedder, PairScorer};
use mmsafe_judge::classifier::cache::CachedEmbedder;
use mmsafe_judge::JudgeResolver;
use mmsafe_local::models::catalog;
use mmsafe_target::TargetOptions;
use std::sync::Arc;

pub fn build_judge(spec: &str, opts: &TargetOptions) -> anyhow::Result<DynJudge> {
    let resolver = CliJudgeResolver { opts: opts.clone() };
    Ok(mmsafe_judge::registry::build(spec, &resolver)?)
}

/// The one implementation of the judge crate's model hooks.
pub struct CliJudgeResolver {
    pub opts: TargetOptions,
}

impl JudgeResolver for CliJudgeResolver {
    fn target(&self, spec: &str) -> Result<DynTarget, String> {
        build_target(spec, &self.opts).map_err(|e| e.to_string())
    }

    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        classifier_embedder()
            .map(|(e, _)| e)
            .map_err(|e| format!("{e:#}"))
    }

    fn pair_scorer(&self, weights: &[u8], source: &str) -> Result<Arc<dyn PairScorer>, String> {
        crate::wiring::models::ensure(&[catalog::MINILM]).map_err(|e| format!("{e:#}"))?;
        let scorer: Arc<dyn PairScorer> =
            mmsafe_local::cross_encoder(weights, source).map_err(|e| e.to_string())?;
        Ok(scorer)
    }
}

/// The embedder to use, and the on-disk cache behind it when there is one.
pub type ClassifierEmbedder = (Arc<dyn Embedder>, Option<Arc<CachedEmbedder>>);

/// The classifier's embedder (MiniLM, pulled on first use); with
/// `MMSAFE_EMBED_CACHE=FILE` set, vectors are cached on disk by text hash
/// (training and repeated evals reuse them), and the cache is returned too so
/// long jobs can save it as they go.
pub fn classifier_embedder() -> anyhow::Result<ClassifierEmbedder> {
    crate::wiring::models::ensure(&[catalog::MINILM])?;
    let embedder = mmsafe_local::default_embedder()
        .map_err(|e| anyhow::anyhow!("loading the embedder: {e}"))?;
    Ok(
        match std::env::var_os("MMSAFE_EMBED_CACHE").filter(|p| !p.is_empty()) {
            Some(path) => {
                let cache = Arc::new(
                    CachedEmbedder::open(embedder, std::path::Path::new(&path))
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                );
                (cache.clone(), Some(cache))
            }
            None => (embedder, None),
        },
    )
}
