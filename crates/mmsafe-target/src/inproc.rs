//! In-process targets: a model that lives in this process (a Python callable
//! handed over by the `mmsafe` Python package, a test double) registered under
//! a name and reached with the spec `inproc:NAME`.
//!
//! The registry exists so such a target is built by the same spec parser as
//! every other target and gets the same operational layers (retry,
//! concurrency, rate, timeout) from `with_ops`; a run records `inproc:NAME` as
//! its target, and a resume finds the model again once it is registered under
//! the same name.

use mmsafe_core::{DynTarget, TargetError, TargetErrorKind};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// The scheme of in-process target specs.
pub const SCHEME: &str = "inproc";

static REGISTRY: Mutex<BTreeMap<String, DynTarget>> = Mutex::new(BTreeMap::new());

fn registry() -> MutexGuard<'static, BTreeMap<String, DynTarget>> {
    // A panic elsewhere while the lock was held leaves a map that is still
    // consistent (inserts and removes are single calls).
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A failed registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InprocError {
    #[error("in-process target name `{0}` is empty or has characters other than letters, digits, `_`, `-`, `.`")]
    BadName(String),
    #[error("an in-process target named `{0}` is already registered (by a scan still running?); choose another name")]
    Taken(String),
}

/// Keeps a target registered; dropping it removes the name.
#[derive(Debug)]
#[must_use = "the target is unregistered when the registration is dropped"]
pub struct Registration {
    name: String,
}

impl Registration {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The spec that reaches the registered target: `inproc:NAME`.
    pub fn spec(&self) -> String {
        format!("{SCHEME}:{}", self.name)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry().remove(&self.name);
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Register `target` under `name` until the returned guard is dropped. A name
/// is held by one target at a time: two scans sharing a name would answer
/// each other's requests.
pub fn register(name: &str, target: DynTarget) -> Result<Registration, InprocError> {
    if !valid_name(name) {
        return Err(InprocError::BadName(name.to_string()));
    }
    let mut map = registry();
    if map.contains_key(name) {
        return Err(InprocError::Taken(name.to_string()));
    }
    map.insert(name.to_string(), target);
    Ok(Registration {
        name: name.to_string(),
    })
}

/// The raw (unlayered) target for `inproc:NAME`.
pub fn build_inproc_target(spec: &str) -> Result<DynTarget, TargetError> {
    let name = spec
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_default()
        .trim();
    let map = registry();
    if let Some(t) = map.get(name) {
        return Ok(t.clone());
    }
    let known: Vec<&str> = map.keys().map(String::as_str).collect();
    let hint = match mmsafe_core::params::did_you_mean(name, &known) {
        Some(s) => format!("; did you mean `{SCHEME}:{s}`?"),
        None if known.is_empty() => {
            "; none is registered (in-process targets come from a program that embeds mmsafe, \
             e.g. `mmsafe.scan(target=callable)` in Python)"
                .to_string()
        }
        None => format!("; registered: {}", known.join(", ")),
    };
    Err(TargetError::new(
        TargetErrorKind::Config,
        format!("no in-process target named `{name}`{hint}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use mmsafe_core::{Request, Response, Target, TargetInfo};
    use std::sync::Arc;

    struct Fixed(TargetInfo);
    #[async_trait]
    impl Target for Fixed {
        fn info(&self) -> &TargetInfo {
            &self.0
        }
        async fn call(&self, _req: Request) -> Result<Response, TargetError> {
            Ok(Response::text("fixed"))
        }
    }

    fn fixed(name: &str) -> DynTarget {
        Arc::new(Fixed(TargetInfo {
            spec: format!("inproc:{name}"),
            model: name.to_string(),
            accepts_images: true,
        }))
    }

    #[test]
    fn registered_targets_resolve_until_dropped() {
        let reg = register("unit-a", fixed("unit-a")).unwrap();
        assert_eq!(reg.spec(), "inproc:unit-a");
        let t = build_inproc_target("inproc:unit-a").unwrap();
        assert_eq!(t.info().model, "unit-a");
        // One target per name at a time.
        assert_eq!(
            register("unit-a", fixed("x")).unwrap_err(),
            InprocError::Taken("unit-a".into())
        );
        let e = build_inproc_target("inproc:unit-b").err().unwrap();
        assert!(e.message.contains("did you mean `inproc:unit-a`"), "{e}");
        drop(reg);
        assert!(build_inproc_target("inproc:unit-a").is_err());
        assert!(register("", fixed("x")).is_err());
        assert!(register("a b", fixed("x")).is_err());
    }
}
