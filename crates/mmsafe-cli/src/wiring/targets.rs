//! Build targets from specs (`openai-compatible:<url>#<model>`, `openai:<model>`, `local:smollm2`, …).
//!
//! Every target, HTTP or local, is wrapped once in the operational layers
//! (cache, retry, concurrency, rate, timeout) by `mmsafe_target::try_with_ops`.

use anyhow::Context as _;
use mmsafe_core::DynTarget;
pub use mmsafe_target::TargetOptions;

/// Every scheme `build_target` accepts, for error messages.
fn valid_schemes() -> String {
    let mut all: Vec<&str> = mmsafe_target::HTTP_SCHEMES.to_vec();
    all.extend(["local", mmsafe_target::inproc::SCHEME]);
    all.join(", ")
}

pub fn build_target(spec: &str, opts: &TargetOptions) -> anyhow::Result<DynTarget> {
    let scheme = spec.split_once(':').map_or(spec, |(s, _)| s);
    // An in-process model (a Python callable) is not a pure function of the
    // request the way a greedy HTTP model is assumed to be, and its name is
    // reused across sessions for another model: never cache its answers.
    let uncached;
    let opts = if scheme == mmsafe_target::inproc::SCHEME {
        uncached = TargetOptions {
            cache: mmsafe_target::CacheMode::Off,
            ..opts.clone()
        };
        &uncached
    } else {
        opts
    };
    let inner: DynTarget = match scheme {
        s if mmsafe_target::HTTP_SCHEMES.contains(&s) => {
            mmsafe_target::build_http_target(spec, opts)?
        }
        "local" => {
            crate::wiring::models::ensure(&crate::wiring::models::for_local_target())?;
            mmsafe_local::target::build_target(spec, opts.threads)?
        }
        s if s == mmsafe_target::inproc::SCHEME => mmsafe_target::build_inproc_target(spec)?,
        _ => anyhow::bail!(
            "unknown target scheme `{scheme}` in `{}`; valid schemes: {}",
            mmsafe_target::redact_spec(spec),
            valid_schemes()
        ),
    };
    let info = inner.info().spec.clone();
    mmsafe_target::try_with_ops(inner, opts).with_context(|| format!("target `{info}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Message, Request};
    use mmsafe_testkit::{MockConfig, MockServer};

    #[test]
    fn unknown_scheme_lists_the_valid_ones() {
        let err = build_target("anthropc:claude", &TargetOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`anthropc`"), "{err}");
        assert!(err.contains("openai-compatible"), "{err}");
        assert!(err.contains("local"), "{err}");
    }

    #[test]
    fn unknown_scheme_error_hides_url_credentials() {
        let err = build_target(
            "openai-compat:http://u:pw-secret@127.0.0.1:1/v1?api-key=k-secret#m",
            &TargetOptions::default(),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(err.contains("unknown target scheme"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[tokio::test]
    async fn inproc_specs_reach_the_registered_target_through_uncached_layers() {
        let server = MockServer::start(MockConfig::default()).await.unwrap();
        let raw =
            mmsafe_target::build_http_target(&server.target_spec(), &TargetOptions::default())
                .unwrap();
        let reg = mmsafe_target::inproc::register("wiring-test", raw).unwrap();
        let opts = TargetOptions {
            cache: mmsafe_target::CacheMode::Memory,
            ..TargetOptions::default()
        };
        let t = build_target(&reg.spec(), &opts).unwrap();
        let req = Request::new(vec![Message::user_text("ping")]);
        assert_eq!(t.call(req.clone()).await.unwrap().text, "ping");
        // An in-process model is never cached, whatever the options say.
        assert!(!t.call(req).await.unwrap().cached);
        assert_eq!(server.request_count(), 2);
        let err = build_target("inproc:wiring-tst", &opts)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("did you mean `inproc:wiring-test`"), "{err}");
        drop(reg);
        assert!(build_target("inproc:wiring-test", &opts).is_err());
    }

    #[tokio::test]
    async fn http_spec_builds_a_layered_target_that_answers() {
        let server = MockServer::start(MockConfig::default()).await.unwrap();
        let opts = TargetOptions {
            cache: mmsafe_target::CacheMode::Memory,
            ..TargetOptions::default()
        };
        let t = build_target(&server.target_spec(), &opts).unwrap();
        assert_eq!(t.info().spec, server.target_spec());
        let req = Request::new(vec![Message::user_text("ping")]);
        assert_eq!(t.call(req.clone()).await.unwrap().text, "ping");
        // The cache layer is present: the repeat does not reach the server.
        assert!(t.call(req).await.unwrap().cached);
        assert_eq!(server.request_count(), 1);
    }
}
