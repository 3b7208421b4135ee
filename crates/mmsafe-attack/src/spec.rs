//! What an attack is: the [`AttackSpec`] every attack file declares and the
//! [`BuildCtx`] its build function gets. In a file of its own so the attack
//! files and the registry both depend on it and not on each other.

use crate::templates::TemplateLibrary;
use mmsafe_core::{AttackError, DynAttack, DynTarget, Ocr, ParamSpec, Params};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;

/// What an attack needs from outside its parameters.
#[derive(Clone)]
pub struct BuildCtx {
    /// Builds the model named by `extractor=<target spec>` (the CLI passes its
    /// target wiring; this crate does not depend on the target crate).
    pub target_builder: Option<TargetBuilder>,
    /// Text templates (embedded plus user directories).
    pub templates: Arc<TemplateLibrary>,
    /// When set, every image an attack produces is read back and its
    /// readability recorded in provenance ([`crate::readability`]).
    pub ocr: Option<Arc<dyn Ocr>>,
}

impl Default for BuildCtx {
    /// Rule-based extraction and the embedded templates.
    fn default() -> BuildCtx {
        BuildCtx {
            target_builder: None,
            // The embedded templates are parsed by a unit test, so this cannot
            // fail in a tested build.
            templates: Arc::new(TemplateLibrary::embedded().unwrap_or_default()),
            ocr: None,
        }
    }
}

pub type TargetBuilder = Arc<dyn Fn(&str) -> Result<DynTarget, String> + Send + Sync>;

impl BuildCtx {
    /// The extraction model for `extractor=<spec>`; `None` for `rules`.
    pub fn extractor(&self, attack: &str, spec: &str) -> Result<Option<DynTarget>, AttackError> {
        if spec.is_empty() || spec == "rules" {
            return Ok(None);
        }
        let builder = self.target_builder.as_ref().ok_or_else(|| {
            AttackError::new(
                attack,
                format!("extractor `{spec}`: no target wiring available here"),
            )
        })?;
        builder(spec)
            .map(Some)
            .map_err(|e| AttackError::new(attack, format!("extractor `{spec}`: {e}")))
    }
}

/// Builds an attack from its name (as registered) and resolved parameters.
pub type BuildFn =
    fn(name: &str, params: &Params, ctx: &BuildCtx) -> Result<DynAttack, AttackError>;

/// One registered attack.
#[derive(Clone)]
pub struct AttackSpec {
    pub name: Cow<'static, str>,
    pub summary: Cow<'static, str>,
    pub params: &'static [ParamSpec],
    /// Whether the output depends on the seed (random choices).
    pub uses_seed: bool,
    pub build: BuildFn,
}

/// `mmsafe attack list --json` shape of one entry.
#[derive(Debug, Clone, Serialize)]
pub struct AttackInfo {
    pub name: String,
    pub summary: String,
    pub params: Vec<ParamSpec>,
    pub uses_seed: bool,
}

impl AttackSpec {
    pub fn info(&self) -> AttackInfo {
        AttackInfo {
            name: self.name.to_string(),
            summary: self.summary.to_string(),
            params: self.params.to_vec(),
            uses_seed: self.uses_seed,
        }
    }
}
