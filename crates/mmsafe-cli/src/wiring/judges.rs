//! Build judges from specs (`refusal`, `llm:<target>`, `llamaguard:<target>`, `classifier`, `vote:…`, `cascade:…`, `…:defer=LOW-HIGH`).

use crate::wiring::targets::build_target;
use mmsafe_core::{DynJudge, Embedder};
use mmsafe_judge::cascade::{self, CascadeJudge};
use mmsafe_judge::classifier::cache::CachedEmbedder;
use mmsafe_judge::classifier::{ClassifierJudge, CrossJudge, Head};
use mmsafe_judge::llm::{LlmJudge, Rubric};
use mmsafe_judge::selective::{self, DeferJudge};
use mmsafe_judge::vote::{self, VoteJudge};
use mmsafe_target::TargetOptions;
use std::sync::Arc;

const KNOWN: &str = "refusal, llm:<target>[:rubric=harmbench|strongreject|mmsb], llamaguard:<target>, classifier[:head|:<head.json>|:<model.safetensors>], vote:<j1>,<j2>,…[:mode=majority|unanimous][:weights=W1,W2,…], cascade:<j1>,<j2>,…, and any of them followed by :defer=LOW-HIGH";

pub fn build_judge(spec: &str, opts: &TargetOptions) -> anyhow::Result<DynJudge> {
    let spec = spec.trim();
    if let Some(split) = selective::split_spec(spec) {
        let (inner, band) = split.map_err(|e| anyhow::anyhow!(e))?;
        return Ok(Arc::new(DeferJudge::new(build_judge(inner, opts)?, band)));
    }
    if spec == "refusal" {
        return Ok(Arc::new(mmsafe_judge::RefusalJudge::new()));
    }
    if let Some(rest) = spec.strip_prefix("llm:") {
        let (target_spec, rubric) = match rest.rsplit_once(":rubric=") {
            Some((t, r)) => {
                let rubric = Rubric::parse(r.trim()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "judge `{spec}`: unknown rubric `{r}` (expected harmbench, strongreject or mmsb)"
                    )
                })?;
                (t, rubric)
            }
            None => (rest, Rubric::HarmBench),
        };
        let target =
            build_target(target_spec, opts).map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?;
        return Ok(Arc::new(LlmJudge::new(target, rubric)));
    }
    if let Some(target_spec) = spec.strip_prefix("llamaguard:") {
        let target =
            build_target(target_spec, opts).map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?;
        return Ok(Arc::new(mmsafe_judge::llamaguard::LlamaGuardJudge::new(
            target,
        )));
    }
    if spec == "classifier" || spec.starts_with("classifier:") {
        return build_classifier(spec);
    }
    if let Some(rest) = spec.strip_prefix("vote:") {
        let (members, mode, weights) =
            vote::parse_weighted(rest).map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?;
        let members = members
            .iter()
            .map(|m| build_judge(m, opts))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let vote = VoteJudge::new(members, mode);
        return Ok(Arc::new(match weights {
            Some(w) => vote
                .with_weights(w)
                .map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?,
            None => vote,
        }));
    }
    if let Some(rest) = spec.strip_prefix("cascade:") {
        let members = cascade::parse_spec(rest)
            .map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?
            .iter()
            .map(|m| build_judge(m, opts))
            .collect::<anyhow::Result<Vec<_>>>()?;
        return Ok(Arc::new(CascadeJudge::new(members)));
    }
    if spec.starts_with("published:") {
        anyhow::bail!(
            "judge `{spec}` reads the verdicts a labels file records for another judge; it works only in `mmsafe judge eval`, as a `--judge` of its own (not inside `vote:`)"
        );
    }
    anyhow::bail!("unknown judge `{spec}` (known: {KNOWN})")
}

/// `classifier`: the shipped fine-tuned cross-encoder; `classifier:head`:
/// the shipped head on frozen embeddings; `classifier:FILE.safetensors` a
/// cross-encoder and `classifier:FILE` (any other name) a head, both as
/// written by `mmsafe judge train`.
fn build_classifier(spec: &str) -> anyhow::Result<DynJudge> {
    let cross = |bytes: &[u8], source: &str| -> anyhow::Result<DynJudge> {
        let scorer = mmsafe_local::cross_encoder(bytes, source)
            .map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?;
        Ok(Arc::new(CrossJudge::new(spec, scorer)))
    };
    let head = match spec.strip_prefix("classifier:") {
        None => {
            return cross(
                mmsafe_judge::classifier::SHIPPED_CROSS_ENCODER,
                "assets/classifier.safetensors (shipped)",
            )
        }
        Some(path) if path.ends_with(".safetensors") => {
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("judge `{spec}`: reading {path}: {e}"))?;
            return cross(&bytes, path);
        }
        Some("head") => mmsafe_judge::classifier::shipped_head()?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("judge `{spec}`: reading {path}: {e}"))?;
            Head::from_json(&text, path)?
        }
    };
    let (embedder, _) =
        classifier_embedder().map_err(|e| anyhow::anyhow!("judge `{spec}`: {e}"))?;
    Ok(Arc::new(ClassifierJudge::new(spec, embedder, head)?))
}

/// The embedder to use, and the on-disk cache behind it when there is one.
pub type ClassifierEmbedder = (Arc<dyn Embedder>, Option<Arc<CachedEmbedder>>);

/// The classifier's embedder; with `MMSAFE_EMBED_CACHE=FILE` set, vectors
/// are cached on disk by text hash (training and repeated evals reuse them),
/// and the cache is returned too so long jobs can save it as they go.
pub fn classifier_embedder() -> anyhow::Result<ClassifierEmbedder> {
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
