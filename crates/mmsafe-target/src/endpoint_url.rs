//! Endpoint URLs from a user's base URL: the API path is appended to the base
//! URL's *path*, so a query the base carries (`?api-version=…` for Azure-style
//! gateways) stays a query, and userinfo stays where reqwest turns it into basic auth.

use mmsafe_core::{TargetError, TargetErrorKind};

use crate::redact::redact_url;

/// `base` with `tail` appended as path segments: `http://h/v1?v=1` + `chat/completions`
/// = `http://h/v1/chat/completions?v=1`. A fragment on `base` is dropped (it is never
/// sent). Fails with a `config` error (URL redacted) when `base` is not an http(s) URL.
pub fn endpoint_url(base: &str, tail: &str) -> Result<String, TargetError> {
    let mut u = reqwest::Url::parse(base.trim()).map_err(|e| {
        TargetError::new(
            TargetErrorKind::Config,
            format!("base URL `{}` is not a URL: {e}", redact_url(base.trim())),
        )
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(TargetError::new(
            TargetErrorKind::Config,
            format!(
                "base URL `{}` must be http or https, got `{}`",
                redact_url(base.trim()),
                u.scheme()
            ),
        ));
    }
    let path = format!(
        "{}/{}",
        u.path().trim_end_matches('/'),
        tail.trim_start_matches('/')
    );
    u.set_path(&path);
    u.set_fragment(None);
    Ok(u.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_goes_before_the_query() {
        let j = |b: &str, t: &str| endpoint_url(b, t).unwrap();
        assert_eq!(
            j("http://127.0.0.1:9/v1", "chat/completions"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            j("http://127.0.0.1:9/v1/", "/chat/completions"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            j(
                "http://127.0.0.1:9/v1?api-version=2024-06-01",
                "chat/completions"
            ),
            "http://127.0.0.1:9/v1/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(
            j("https://h.example/openai/?a=1&b=2#frag", "models"),
            "https://h.example/openai/models?a=1&b=2"
        );
        assert_eq!(j("http://h:1", "v1/messages"), "http://h:1/v1/messages");
        assert_eq!(
            j("http://u:p@h:1?key=k", "v1beta/models/m:generateContent"),
            "http://u:p@h:1/v1beta/models/m:generateContent?key=k"
        );
    }

    #[test]
    fn bad_bases_are_config_errors_without_secrets() {
        let e = endpoint_url("ftp://u:secret@h/", "x").unwrap_err();
        assert_eq!(e.kind, TargetErrorKind::Config);
        assert!(!e.message.contains("secret"), "{}", e.message);
        let e = endpoint_url("http://u:secret@h:99999/?key=secret", "x").unwrap_err();
        assert!(e.message.contains("is not a URL"), "{}", e.message);
        assert!(!e.message.contains("secret"), "{}", e.message);
    }
}
