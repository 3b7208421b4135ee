//! First-use download of the small offline models a plugin needs, so that
//! `mmsafe` on a fresh machine works without a separate `models pull` step.
//! One rule for every model (the `local:` target, the `classifier` judge, the
//! guard's OCR and embeddings): missing files are pulled on first use, or,
//! under `MMSAFE_OFFLINE`, reported by name. Loading code in mmsafe-local
//! never downloads; only this wiring decides to.

use anyhow::Context as _;
use mmsafe_local::models::{catalog, Manager};

/// Pull any of `names` whose files are missing; with `MMSAFE_OFFLINE` set
/// (any true-like value) a missing file is an error that names it.
pub fn ensure(names: &[&str]) -> anyhow::Result<()> {
    let manager = Manager::from_env()?;
    let missing: Vec<_> = names
        .iter()
        .filter_map(|n| catalog::find(n))
        .filter(|spec| manager.status(spec).iter().any(|(_, size)| size.is_none()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if mmsafe_local::models::config::offline_from_env() {
        let spec = &missing[0];
        let file = manager
            .status(spec)
            .into_iter()
            .find(|(_, size)| size.is_none())
            .map(|(f, _)| f);
        return Err(match file {
            Some(f) => mmsafe_local::LocalError::Offline {
                model: spec.name.clone(),
                file: f.name.clone(),
                path: manager.file_path(spec, &f),
            },
            None => mmsafe_local::LocalError::NotPulled {
                model: spec.name.clone(),
                path: manager.model_dir(spec),
            },
        }
        .into());
    }
    // Pull on a thread of its own: callers may already be inside a runtime.
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                for spec in &missing {
                    eprintln!(
                        "mmsafe: first use of `{}`: downloading it into {} (set MMSAFE_OFFLINE=1 to forbid)",
                        spec.name,
                        manager.dir().display()
                    );
                    rt.block_on(manager.pull(spec, None))
                        .with_context(|| format!("pulling `{}`", spec.name))?;
                }
                Ok(())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("model download thread panicked"))?
    })
}

/// Models behind a `local:` target spec.
pub fn for_local_target() -> [&'static str; 2] {
    [catalog::SMOLLM2, catalog::PPOCR]
}
