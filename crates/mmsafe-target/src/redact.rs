//! Credential redaction for anything that is stored or printed: target specs, URLs in
//! error messages, `Debug` output.
//!
//! The rewrite is textual rather than parse-and-serialise, so a URL that needs no
//! redaction comes back byte-identical (specs are cache keys and run labels), and a
//! URL too broken to parse is still redacted before it lands in a "not a URL" error.

/// Shown in place of a secret.
pub const REDACTED: &str = "***";

/// `url` with userinfo (`user:pass@`) replaced by `***@` and the values of
/// secret-looking query parameters (see [`is_secret_param`]) replaced by `***`.
/// Everything else, the fragment included, is kept as written.
pub fn redact_url(url: &str) -> String {
    let (before_frag, frag) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (before_query, query) = match before_frag.find('?') {
        Some(i) => (&before_frag[..i], Some(&before_frag[i + 1..])),
        None => (before_frag, None),
    };
    let mut out = redact_userinfo(before_query);
    if let Some(q) = query {
        out.push('?');
        out.push_str(&redact_query(q));
    }
    out.push_str(frag);
    out
}

/// A target spec (`scheme:<base-url>#<model>`, `scheme:<model>`, …) safe to store and
/// print: the URL part goes through [`redact_url`]; the model and specs without a URL
/// (`openai:gpt-4o`, `local:smollm2`) are returned unchanged.
pub fn redact_spec(spec: &str) -> String {
    let Some((scheme, rest)) = spec.split_once(':') else {
        return spec.to_string();
    };
    // The base URL ends at the first `#` (the spec grammar), the model follows it.
    let (url, model) = match rest.split_once('#') {
        Some((u, m)) => (u, Some(m)),
        None => (rest, None),
    };
    let mut out = format!("{scheme}:{}", redact_url(url));
    if let Some(m) = model {
        out.push('#');
        out.push_str(m);
    }
    out
}

/// Query parameter names whose values are credentials: `sig`, `code`, `auth`, and any
/// name ending in `key`, `token`, `secret`, `password`, `passwd` or `signature`
/// (`key`, `api-key`, `api_key`, `apiKey`, `access_token`, `subscription-key`, …).
/// Case-insensitive; percent-escapes in the name are decoded first. Erring towards
/// redaction is deliberate: hiding a harmless value costs nothing.
pub fn is_secret_param(name: &str) -> bool {
    let name = percent_decode(name).trim().to_ascii_lowercase();
    const EXACT: &[&str] = &["sig", "code", "auth"];
    const SUFFIXES: &[&str] = &["key", "token", "secret", "password", "passwd", "signature"];
    EXACT.contains(&name.as_str()) || SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Replace everything between `://` and the last `@` of the authority with `***`.
/// The last `@` before any path, query or fragment is taken (a password may contain
/// an unescaped `@`); with no `://` the text is not a URL and is left alone.
fn redact_userinfo(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let rest = &s[start..];
    // An unescaped `/` inside a password would end the authority early for a
    // parser, so look for `@` in the whole pre-query part: over-redacting a rare
    // path with `@` is harmless, leaking half a password is not.
    match rest.rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &s[..start], &rest[at..]),
        None => s.to_string(),
    }
}

fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `%XX` and `+` decoding, lossy on invalid UTF-8; only used to compare names.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_secret_params_are_redacted() {
        assert_eq!(
            redact_url("http://user:PW@127.0.0.1:1/v1?api-key=Q&api-version=2024-06-01"),
            "http://***@127.0.0.1:1/v1?api-key=***&api-version=2024-06-01"
        );
        assert_eq!(
            redact_url("https://tok@h.example/v1"),
            "https://***@h.example/v1"
        );
        for k in [
            "api-key",
            "API_KEY",
            "Key",
            "token",
            "access_token",
            "SIG",
            "signature",
            "subscription-key",
            "x-goog-api-key",
            "api%2Dkey",
            "apiKey",
            "accessToken",
            "client_secret",
            "password",
            "code",
        ] {
            let r = redact_url(&format!("https://h/v1?a=1&{k}=SECRET"));
            assert!(!r.contains("SECRET"), "{k}: {r}");
            assert!(r.contains("a=1"), "{k}: {r}");
        }
        for k in ["api-version", "model", "monkey_business", "keyword", "alt"] {
            let u = format!("https://h/v1?{k}=visible");
            assert_eq!(redact_url(&u), u, "{k}");
        }
    }

    #[test]
    fn clean_urls_and_specs_come_back_byte_identical() {
        for s in [
            "openai-compatible:http://127.0.0.1:8000/v1#llava-hf/llava-1.5-7b-hf",
            "openai-compatible:http://127.0.0.1:8000/v1/?api-version=2024-06-01#m",
            "openai:gpt-4o",
            "ollama:llava:7b",
            "local:smollm2",
            "anthropic:claude-sonnet-4-5",
            "gemini:https://g.example#gemini-2.5-flash",
            "no-scheme-at-all",
        ] {
            assert_eq!(redact_spec(s), s);
        }
    }

    #[test]
    fn specs_keep_the_model_and_lose_the_secrets() {
        assert_eq!(
            redact_spec("openai-compatible:http://user:PW@127.0.0.1:18555/v1?api-key=Q#m"),
            "openai-compatible:http://***@127.0.0.1:18555/v1?api-key=***#m"
        );
        // Without `#<model>` (a spec error) the URL is still redacted.
        assert_eq!(
            redact_spec("openai-compatible:https://u:p@h/v1?token=t"),
            "openai-compatible:https://***@h/v1?token=***"
        );
    }

    #[test]
    fn unparseable_urls_are_redacted_too() {
        // A bad port makes this unparseable; the password must still go.
        let r = redact_url("http://user:pa/ss@host:99999/v1?sig=S");
        assert!(!r.contains("pa/ss") && !r.contains("=S"), "{r}");
        assert!(!redact_url("http://u:p@@h").contains(":p"));
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%2Db"), "a-b");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("a+b"), "a b");
    }
}
