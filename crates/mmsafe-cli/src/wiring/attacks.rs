//! Build attacks from specs (`none`, `figstep`, `template:roleplay+figstep`, …).

use mmsafe_core::DynAttack;

pub fn build_attack(spec: &str) -> anyhow::Result<DynAttack> {
    anyhow::bail!("unknown attack `{spec}`")
}
