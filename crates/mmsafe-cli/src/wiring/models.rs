//! First-use download of the small offline models a plugin needs, so that
//! `mmsafe` on a fresh machine works without a separate `models pull` step.
//! Loading code in mmsafe-local never downloads; only this wiring decides to.

use anyhow::Context as _;
use mmsafe_local::models::{catalog, Manager};

/// Pull any of `names` whose files are missing, unless `MMSAFE_OFFLINE=1`
/// (then the loader's own error names the missing file).
pub fn ensure(names: &[&str]) -> anyhow::Result<()> {
    let manager = Manager::from_env()?;
    if mmsafe_local::models::config::offline_from_env() {
        return Ok(());
    }
    let missing: Vec<_> = names
        .iter()
        .filter_map(|n| catalog::find(n))
        .filter(|spec| manager.status(spec).iter().any(|(_, size)| size.is_none()))
        .collect();
    if missing.is_empty() {
        return Ok(());
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
