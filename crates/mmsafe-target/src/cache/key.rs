//! The cache key: sha256 over a canonical JSON form of the request.
//!
//! Images enter by sha256 and media type, never by bytes, so hashing a request
//! with large images costs no more than hashing its text. The target spec is part
//! of the key so targets sharing one cache file never see each other's answers.

use mmsafe_core::{Part, Request};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Bump when the normalized form changes, so old entries stop matching.
const KEY_VERSION: u32 = 1;

#[derive(Serialize)]
struct KeyDoc<'a> {
    v: u32,
    spec: &'a str,
    messages: Vec<KeyMessage<'a>>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    stop: &'a [String],
}

#[derive(Serialize)]
struct KeyMessage<'a> {
    role: &'static str,
    parts: Vec<KeyPart<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum KeyPart<'a> {
    Text {
        text: &'a str,
    },
    Image {
        sha256: &'a str,
        media_type: &'a str,
    },
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lower-case hex sha256 of the normalized `(spec, request)`.
pub fn cache_key(spec: &str, req: &Request) -> String {
    let doc = KeyDoc {
        v: KEY_VERSION,
        spec,
        messages: req
            .messages
            .iter()
            .map(|m| KeyMessage {
                role: m.role.as_str(),
                parts: m
                    .content
                    .iter()
                    .map(|p| match p {
                        Part::Text { text } => KeyPart::Text { text },
                        Part::Image { image } => KeyPart::Image {
                            sha256: image.sha256(),
                            media_type: image.media_type(),
                        },
                    })
                    .collect(),
            })
            .collect(),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        seed: req.seed,
        stop: &req.stop,
    };
    let mut h = Sha256::new();
    // Writing into a hasher cannot fail, and these types always serialize.
    let _ = serde_json::to_writer(HashWriter(&mut h), &doc);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Image, Message};

    fn req(text: &str, img: &[u8]) -> Request {
        Request::new(vec![Message::user(vec![
            Part::text(text),
            Part::image(Image::png(img.to_vec())),
        ])])
    }

    #[test]
    fn key_depends_on_every_field_that_changes_the_answer() {
        let base = cache_key("t", &req("a", b"1"));
        assert_eq!(base, cache_key("t", &req("a", b"1")));
        assert_eq!(base.len(), 64);
        assert_ne!(base, cache_key("u", &req("a", b"1")));
        assert_ne!(base, cache_key("t", &req("b", b"1")));
        assert_ne!(base, cache_key("t", &req("a", b"2")));
        let mut r = req("a", b"1");
        r.max_tokens = Some(5);
        assert_ne!(base, cache_key("t", &r));
        let mut r = req("a", b"1");
        r.seed = Some(1);
        assert_ne!(base, cache_key("t", &r));
        let mut r = req("a", b"1");
        r.stop = vec!["x".into()];
        assert_ne!(base, cache_key("t", &r));
    }
}
