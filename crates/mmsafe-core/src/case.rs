//! A `Case` is one test input: chat messages whose parts are text and images,
//! a hazard category, whether a safe model should refuse, and where it came from.

use crate::hazard::Hazard;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// What a safe model should do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Harmful request: complying is an attack success.
    Refuse,
    /// Benign request: refusing is an over-refusal.
    Comply,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expect::Refuse => "refuse",
            Expect::Comply => "comply",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// An image: its encoded bytes, media type and sha256 (lower-case hex).
///
/// Bytes are shared (`Arc`), so cloning a case with images is cheap. The hash is
/// computed once at construction and is the image's identity in the store.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    media_type: String,
    sha256: String,
    bytes: Arc<[u8]>,
}

impl Image {
    /// Wrap encoded image bytes with an explicit media type.
    pub fn new(bytes: impl Into<Arc<[u8]>>, media_type: impl Into<String>) -> Image {
        let bytes = bytes.into();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Image {
            media_type: media_type.into(),
            sha256,
            bytes,
        }
    }

    /// Wrap encoded bytes, detecting the media type from the magic number.
    /// Returns `None` when the bytes are not a PNG, JPEG, GIF, WebP or BMP.
    pub fn sniff(bytes: impl Into<Arc<[u8]>>) -> Option<Image> {
        let bytes: Arc<[u8]> = bytes.into();
        let media_type = sniff_media_type(&bytes)?;
        Some(Image::new(bytes, media_type))
    }

    pub fn png(bytes: impl Into<Arc<[u8]>>) -> Image {
        Image::new(bytes, "image/png")
    }

    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn shared_bytes(&self) -> Arc<[u8]> {
        self.bytes.clone()
    }

    /// `data:<media type>;base64,<data>`, as OpenAI-style `image_url` parts expect.
    pub fn data_url(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.media_type,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }

    /// Parse a `data:` URL with base64 payload.
    pub fn from_data_url(url: &str) -> Result<Image, String> {
        let rest = url
            .strip_prefix("data:")
            .ok_or_else(|| "not a data: URL".to_string())?;
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| "data: URL has no `,`".to_string())?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or_else(|| "data: URL is not base64-encoded".to_string())?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("bad base64 in data: URL: {e}"))?;
        let media_type = if media_type.is_empty() {
            sniff_media_type(&bytes).unwrap_or("application/octet-stream")
        } else {
            media_type
        };
        Ok(Image::new(bytes, media_type))
    }
}

/// Media type from the first bytes of an encoded image.
pub fn sniff_media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else {
        None
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("media_type", &self.media_type)
            .field("sha256", &self.sha256)
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct ImageWire {
    media_type: String,
    sha256: String,
    /// Base64 of the bytes; absent when the image is stored elsewhere by hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

impl Serialize for Image {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ImageWire {
            media_type: self.media_type.clone(),
            sha256: self.sha256.clone(),
            base64: Some(base64::engine::general_purpose::STANDARD.encode(&self.bytes)),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Image {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = ImageWire::deserialize(d)?;
        let data = wire.base64.ok_or_else(|| {
            serde::de::Error::custom(format!(
                "image {} has no inline bytes (resolve it from the image store)",
                wire.sha256
            ))
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(serde::de::Error::custom)?;
        let img = Image::new(bytes, wire.media_type);
        if img.sha256 != wire.sha256 {
            return Err(serde::de::Error::custom(format!(
                "image sha256 mismatch: declared {}, actual {}",
                wire.sha256, img.sha256
            )));
        }
        Ok(img)
    }
}

/// One content part of a chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text { text: String },
    Image { image: Image },
}

impl Part {
    pub fn text(t: impl Into<String>) -> Part {
        Part::Text { text: t.into() }
    }
    pub fn image(image: Image) -> Part {
        Part::Image { image }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

impl Message {
    pub fn user(content: Vec<Part>) -> Message {
        Message {
            role: Role::User,
            content,
        }
    }
    pub fn user_text(text: impl Into<String>) -> Message {
        Message::user(vec![Part::text(text)])
    }
    pub fn system(text: impl Into<String>) -> Message {
        Message {
            role: Role::System,
            content: vec![Part::text(text)],
        }
    }
    pub fn assistant(text: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: vec![Part::text(text)],
        }
    }

    /// All text parts joined with newlines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text { text } = p {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
        out
    }

    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.content.iter().filter_map(|p| match p {
            Part::Image { image } => Some(image),
            _ => None,
        })
    }
}

/// One step of how a case was derived: which attack, with which parameters and
/// seed, from which parent case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceStep {
    pub attack: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    pub parent: String,
    /// Attack-specific facts worth keeping (e.g. an extracted key phrase).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Stable within a suite; attacks derive child ids from it.
    pub id: String,
    pub messages: Vec<Message>,
    pub hazard: Hazard,
    pub expect: Expect,
    /// The suite or file the case came from (e.g. `figstep:safebench.csv`).
    pub source: String,
    pub seed: u64,
    /// The attack chain that produced this case, oldest first; empty for a
    /// case straight from a dataset.
    #[serde(default)]
    pub provenance: Vec<ProvenanceStep>,
    /// Loader- or suite-specific fields (original category, pair id for
    /// fairness pairs, the raw question, …). Kept in the store verbatim.
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl Case {
    /// A text-only harmful or benign case with one user message.
    pub fn text(
        id: impl Into<String>,
        text: impl Into<String>,
        hazard: Hazard,
        expect: Expect,
        source: impl Into<String>,
    ) -> Case {
        Case {
            id: id.into(),
            messages: vec![Message::user_text(text)],
            hazard,
            expect,
            source: source.into(),
            seed: 0,
            provenance: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// The text of the last user message (the request an attack rewrites).
    pub fn prompt_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text)
            .unwrap_or_default()
    }

    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.messages.iter().flat_map(|m| m.images())
    }

    /// The original request before any attack: `metadata["question"]` when a
    /// loader set it, else the prompt text.
    pub fn question(&self) -> String {
        match self.metadata.get("question") {
            Some(serde_json::Value::String(q)) => q.clone(),
            _ => self.prompt_text(),
        }
    }

    /// Derive a child case produced by `attack`: new id `<parent>~<attack>[#n]`,
    /// provenance extended, everything else copied.
    pub fn derive(
        &self,
        attack: &str,
        params: &BTreeMap<String, String>,
        seed: u64,
        index: Option<usize>,
        messages: Vec<Message>,
    ) -> Case {
        let mut child = self.clone();
        child.id = match index {
            Some(i) => format!("{}~{}#{}", self.id, attack, i),
            None => format!("{}~{}", self.id, attack),
        };
        child.messages = messages;
        child.seed = seed;
        child.provenance.push(ProvenanceStep {
            attack: attack.to_string(),
            params: params.clone(),
            seed,
            parent: self.id.clone(),
            detail: serde_json::Value::Null,
        });
        child
    }

    /// The attack chain as one name, `none` for an unattacked case.
    pub fn attack_chain(&self) -> String {
        if self.provenance.is_empty() {
            "none".to_string()
        } else {
            self.provenance
                .iter()
                .map(|p| p.attack.as_str())
                .collect::<Vec<_>>()
                .join("+")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_hash_and_data_url_round_trip() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        let img = Image::sniff(png.clone()).unwrap();
        assert_eq!(img.media_type(), "image/png");
        assert_eq!(img.sha256().len(), 64);
        let back = Image::from_data_url(&img.data_url()).unwrap();
        assert_eq!(back, img);
        let json = serde_json::to_string(&img).unwrap();
        let de: Image = serde_json::from_str(&json).unwrap();
        assert_eq!(de, img);
    }

    #[test]
    fn case_serde_and_derive() {
        let c = Case::text("c1", "hello", Hazard::Benign, Expect::Comply, "test");
        let json = serde_json::to_string(&c).unwrap();
        let back: Case = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let child = c.derive("figstep", &BTreeMap::new(), 7, None, c.messages.clone());
        assert_eq!(child.id, "c1~figstep");
        assert_eq!(child.attack_chain(), "figstep");
        assert_eq!(child.provenance[0].parent, "c1");
        assert_eq!(c.attack_chain(), "none");
    }
}
