//! Client API keys, compared in constant time.
//!
//! Both the presented key and every configured key are hashed (SHA-256) and
//! the digests compared with `subtle`, over every configured key without early
//! exit, so neither the position of a mismatch nor the key's length leaks
//! through timing. Keys are identified in logs by their index only.

use crate::config::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct Keys {
    digests: Vec<[u8; 32]>,
}

impl Keys {
    pub fn new(keys: &[Secret]) -> Keys {
        Keys {
            digests: keys.iter().map(|k| digest(&k.0)).collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// The index of the matching key (`key-1`, …), or `None`.
    pub fn check(&self, presented: &str) -> Option<usize> {
        let d = digest(presented);
        let mut found: Option<usize> = None;
        for (i, k) in self.digests.iter().enumerate() {
            if bool::from(k.ct_eq(&d)) && found.is_none() {
                found = Some(i);
            }
        }
        found
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Parse an API keys file: one key per line; blank lines and `#` comments skipped.
pub fn parse_keys_file(text: &str) -> Vec<Secret> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| Secret(l.to_string()))
        .collect()
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_by_value_only() {
        let k = Keys::new(&parse_keys_file("# team keys\nsk-a\n\n  sk-b  \n"));
        assert_eq!(k.check("sk-b"), Some(1));
        assert_eq!(k.check("sk-a"), Some(0));
        assert_eq!(k.check("sk-c"), None);
        assert_eq!(k.check(""), None);
        assert_eq!(bearer("Bearer sk-a"), Some("sk-a"));
        assert_eq!(bearer("Basic xyz"), None);
    }
}
