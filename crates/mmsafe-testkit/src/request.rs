//! The chat request as the mock server reads it. Strings borrow from the body,
//! so a request carrying large base64 images is parsed without copying them.

use mmsafe_core::Image;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

#[derive(Deserialize)]
pub(crate) struct ChatBody<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub messages: Vec<WireMessage<'a>>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
}

#[derive(Deserialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow, default)]
    pub content: Content<'a>,
}

/// `content` is a string, an array of parts, or null.
#[derive(Default)]
pub(crate) struct Content<'a>(pub Vec<WirePart<'a>>);

/// A content part; `type` is not read: `text` and `image_url` identify the part.
#[derive(Deserialize)]
pub(crate) struct WirePart<'a> {
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub image_url: Option<ImageUrl<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct ImageUrl<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an array of content parts, or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content(vec![text_part(Cow::Borrowed(v))]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content(vec![text_part(Cow::Owned(v.to_string()))]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content(vec![text_part(Cow::Owned(v))]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element::<WirePart<'a>>()? {
                    parts.push(p);
                }
                Ok(Content(parts))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn text_part(text: Cow<'_, str>) -> WirePart<'_> {
    WirePart {
        text: Some(text),
        image_url: None,
    }
}

/// A parsed chat request, as handed to [`crate::Reply::With`] closures.
pub struct MockRequest<'a> {
    /// 0-based arrival index among chat requests.
    pub index: u64,
    pub model: &'a str,
    /// `(role, text)` for every message; a message's text parts are joined with `\n`.
    pub messages: Vec<(&'a str, String)>,
    /// `image_url` URLs in order of appearance (data URLs when the client is well-behaved).
    pub image_urls: Vec<&'a str>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub(crate) hints: &'a HashMap<String, String>,
}

impl<'a> MockRequest<'a> {
    pub(crate) fn from_body(
        index: u64,
        body: &'a ChatBody<'a>,
        hints: &'a HashMap<String, String>,
    ) -> MockRequest<'a> {
        let mut messages = Vec::with_capacity(body.messages.len());
        let mut image_urls = Vec::new();
        for m in &body.messages {
            let mut text = String::new();
            for p in &m.content.0 {
                if let Some(t) = &p.text {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
                if let Some(u) = &p.image_url {
                    image_urls.push(u.url.as_ref());
                }
            }
            messages.push((m.role.as_ref(), text));
        }
        MockRequest {
            index,
            model: body.model.as_deref().unwrap_or(""),
            messages,
            image_urls,
            max_tokens: body.max_tokens,
            temperature: body.temperature,
            hints,
        }
    }

    /// Text of the last user message.
    pub fn prompt(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|(role, _)| *role == "user")
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }

    /// All user text, in order.
    pub fn user_text(&self) -> impl Iterator<Item = &str> {
        self.messages
            .iter()
            .filter(|(role, _)| *role == "user")
            .map(|(_, t)| t.as_str())
    }

    /// The images, decoded from their data URLs (entries that fail to decode are skipped).
    pub fn images(&self) -> Vec<Image> {
        self.image_urls
            .iter()
            .filter_map(|u| Image::from_data_url(u).ok())
            .collect()
    }

    /// Registered texts (`MockConfig::image_hints`) of the images in this request.
    pub fn image_hints(&self) -> Vec<&'a str> {
        if self.hints.is_empty() {
            return Vec::new();
        }
        self.images()
            .iter()
            .filter_map(|img| self.hints.get(img.sha256()).map(String::as_str))
            .collect()
    }
}

/// Cheap well-formedness check for an `image_url`: `data:<type>;base64,<payload>`.
pub(crate) fn is_data_url(url: &str) -> bool {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .is_some_and(|(meta, payload)| meta.ends_with(";base64") && !payload.is_empty())
}
