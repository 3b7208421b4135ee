//! Build defense stacks from policy specs (`none`, a preset name, or a policy TOML file).

use mmsafe_core::Layer;
use mmsafe_target::TargetOptions;
use std::sync::Arc;

/// `Ok(None)` for `none` (undefended).
pub fn build_defense(spec: &str, _opts: &TargetOptions) -> anyhow::Result<Option<Arc<dyn Layer>>> {
    if spec == "none" {
        return Ok(None);
    }
    anyhow::bail!("unknown defense policy `{spec}`")
}
