//! Target specs for HTTP endpoints: `openai-compatible:<base-url>#<model>`,
//! `openai:<model>`, `ollama:<model>`, `vllm:<model>`, `lmstudio:<model>`.
//! (`anthropic:` and `gemini:` specs are parsed in `native.rs`.)

use mmsafe_core::{TargetError, TargetErrorKind};

use crate::redact::{redact_spec, redact_url};
use crate::TargetOptions;

/// Schemes [`crate::build_http_target`] accepts: the OpenAI-compatible ones, then the
/// provider-native `anthropic` ([`crate::Anthropic`]) and `gemini` ([`crate::Gemini`]).
pub const HTTP_SCHEMES: &[&str] = &[
    "openai-compatible",
    "openai",
    "ollama",
    "vllm",
    "lmstudio",
    "anthropic",
    "gemini",
];

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const OPENAI_KEY_ENV: &str = "OPENAI_API_KEY";
pub const OLLAMA_BASE_URL: &str = "http://127.0.0.1:11434/v1";
pub const VLLM_BASE_URL: &str = "http://127.0.0.1:8000/v1";
pub const LMSTUDIO_BASE_URL: &str = "http://127.0.0.1:1234/v1";

/// Where an HTTP target lives and how it authenticates.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// Base URL without trailing slash, e.g. `http://127.0.0.1:8000/v1`; may carry a
    /// query (`?api-version=…`), which every endpoint URL keeps.
    pub base_url: String,
    pub model: String,
    /// Env var the key is read from, when the target uses a key.
    pub key_env: Option<String>,
    /// The spec with URL credentials and secret query values redacted (safe to store
    /// and print); see [`crate::redact_spec`].
    pub display_spec: String,
}

impl std::fmt::Debug for HttpSpec {
    // `base_url` may hold credentials the user wrote into it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSpec")
            .field("base_url", &redact_url(&self.base_url))
            .field("model", &self.model)
            .field("key_env", &self.key_env)
            .field("display_spec", &self.display_spec)
            .finish()
    }
}

fn config_err(msg: String) -> TargetError {
    TargetError::new(TargetErrorKind::Config, msg)
}

/// Parse one of the [`HTTP_SCHEMES`] specs. Does not read the key.
pub fn parse_http_spec(spec: &str, opts: &TargetOptions) -> Result<HttpSpec, TargetError> {
    let (scheme, rest) = spec.split_once(':').ok_or_else(|| {
        config_err(format!(
            "target spec `{spec}` has no scheme; expected e.g. `openai:<model>`"
        ))
    })?;
    let user_env = opts.api_key_env.clone().filter(|e| !e.is_empty());
    let fixed = |base: &str, default_env: Option<&str>| -> Result<HttpSpec, TargetError> {
        let model = rest.trim();
        if model.is_empty() {
            return Err(config_err(format!(
                "target spec `{spec}` names no model; expected `{scheme}:<model>`"
            )));
        }
        Ok(HttpSpec {
            base_url: base.to_string(),
            model: model.to_string(),
            key_env: user_env.clone().or(default_env.map(str::to_string)),
            // `openai:<model>` holds no URL; redacting anyway covers a URL pasted as a model.
            display_spec: redact_spec(spec),
        })
    };
    match scheme {
        "openai" => fixed(OPENAI_BASE_URL, Some(OPENAI_KEY_ENV)),
        "ollama" => fixed(OLLAMA_BASE_URL, None),
        "vllm" => fixed(VLLM_BASE_URL, None),
        "lmstudio" => fixed(LMSTUDIO_BASE_URL, None),
        "openai-compatible" => {
            // The model may itself contain `#`-free text only; the URL may not contain `#`.
            let (url, model) = rest.split_once('#').ok_or_else(|| {
                config_err(format!(
                    "target spec `{}` has no `#<model>`; expected `openai-compatible:<base-url>#<model>`",
                    redact_spec(spec)
                ))
            })?;
            let model = model.trim();
            if model.is_empty() {
                return Err(config_err(format!(
                    "target spec `{}` names no model after `#`",
                    redact_spec(spec)
                )));
            }
            let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
                config_err(format!(
                    "target spec `{}`: base URL `{}` is not a URL: {e}",
                    redact_spec(spec),
                    redact_url(url.trim())
                ))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(config_err(format!(
                    "target spec `{}`: base URL must be http or https, got `{}`",
                    redact_spec(spec),
                    parsed.scheme()
                )));
            }
            let base = trim_base(url);
            Ok(HttpSpec {
                base_url: base.to_string(),
                model: model.to_string(),
                key_env: user_env,
                display_spec: format!("openai-compatible:{}#{model}", redact_url(base)),
            })
        }
        "anthropic" | "gemini" => Err(config_err(format!(
            "`{scheme}:` targets use the provider's native API, not chat completions; build `{}` with build_http_target",
            redact_spec(spec)
        ))),
        other => Err(config_err(format!(
            "`{other}` is not an HTTP target scheme; expected one of: {}",
            HTTP_SCHEMES.join(", ")
        ))),
    }
}

/// The base URL without surrounding space and, when it has no query, without
/// trailing `/` (a `/` at the end of a query value is data).
pub(crate) fn trim_base(url: &str) -> &str {
    let url = url.trim();
    if url.contains('?') {
        url
    } else {
        url.trim_end_matches('/')
    }
}

/// Read the key named by `env`. A set-but-empty variable counts as missing.
pub fn read_key(env: &str, spec: &str) -> Result<String, TargetError> {
    match std::env::var(env) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(config_err(format!(
            "target `{spec}` needs an API key: set the environment variable {env} (or name another one with --api-key-env)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        let o = TargetOptions::default();
        let s = parse_http_spec("openai-compatible:http://127.0.0.1:8000/v1/#llava", &o).unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(s.model, "llava");
        assert_eq!(s.key_env, None);
        assert_eq!(
            s.display_spec,
            "openai-compatible:http://127.0.0.1:8000/v1#llava"
        );
        let s = parse_http_spec("openai:gpt-4o", &o).unwrap();
        assert_eq!(s.base_url, OPENAI_BASE_URL);
        assert_eq!(s.key_env.as_deref(), Some(OPENAI_KEY_ENV));
        let s = parse_http_spec("ollama:llava:7b", &o).unwrap();
        assert_eq!(s.model, "llava:7b");
        assert_eq!(s.base_url, OLLAMA_BASE_URL);
        let o = TargetOptions {
            api_key_env: Some("MY_KEY".into()),
            ..TargetOptions::default()
        };
        assert_eq!(
            parse_http_spec("openai:gpt-4o", &o)
                .unwrap()
                .key_env
                .as_deref(),
            Some("MY_KEY")
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let o = TargetOptions::default();
        let e = parse_http_spec("openai-compatible:http://x/v1", &o).unwrap_err();
        assert!(e.message.contains("#<model>"), "{}", e.message);
        let e = parse_http_spec("openai-compatible:ftp://x/v1#m", &o).unwrap_err();
        assert!(e.message.contains("http or https"), "{}", e.message);
        let e = parse_http_spec("openai:", &o).unwrap_err();
        assert!(e.message.contains("no model"), "{}", e.message);
        assert_eq!(e.kind, TargetErrorKind::Config);
    }

    #[test]
    fn credentials_never_reach_the_display_spec() {
        let o = TargetOptions::default();
        let s = parse_http_spec(
            "openai-compatible:https://user:secret@h.example/v1?api-key=secret#m",
            &o,
        )
        .unwrap();
        assert!(!s.display_spec.contains("secret"), "{}", s.display_spec);
        assert!(!format!("{s:?}").contains("secret"), "{s:?}");
        assert!(s.base_url.contains("secret"));
    }

    #[test]
    fn missing_key_names_the_variable() {
        let e = read_key("MMSAFE_TEST_SURELY_UNSET_KEY", "openai:gpt-4o").unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Config);
        assert!(e.message.contains("MMSAFE_TEST_SURELY_UNSET_KEY"));
    }
}
