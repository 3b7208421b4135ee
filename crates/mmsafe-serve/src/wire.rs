//! The OpenAI chat-completions wire format the proxy accepts and returns,
//! and its conversion to and from the core `Request`/`Response`.
//!
//! Accepted: `messages` with string content or `text` / `image_url` parts;
//! `max_tokens` or `max_completion_tokens`, `temperature`, `top_p`, `seed`,
//! `stop` (string or list), `stream`, `stream_options.include_usage`. Other
//! fields are ignored, as OpenAI-compatible servers commonly do.

use mmsafe_core::{FinishReason, Response, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WirePart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

/// What the client sees as `finish_reason`. A guard block is reported as
/// `content_filter`, the value OpenAI clients already handle for moderated
/// answers; the `x-mmsafe-decision` header says `block`.
pub fn finish_reason(f: &FinishReason) -> &str {
    match f {
        FinishReason::GuardBlocked => "content_filter",
        other => other.as_str(),
    }
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total(),
    })
}

pub fn completion(id: &str, created: u64, model: &str, r: &Response) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": r.text},
            "finish_reason": finish_reason(&r.finish_reason),
        }],
        "usage": usage_json(&r.usage),
    })
}

pub fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

pub fn usage_chunk(id: &str, created: u64, model: &str, u: &Usage) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_json(u),
    })
}

/// Split an answer into stream pieces of roughly `size` characters, at word
/// boundaries where possible.
pub fn pieces(text: &str, size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        if !cur.is_empty() && cur.chars().count() + word.chars().count() > size {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Debug, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Serialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_to_the_text() {
        let t = "The quick brown fox jumps over the lazy dog. ".repeat(5);
        let p = pieces(&t, 16);
        assert!(p.len() > 5);
        assert_eq!(p.concat(), t);
        assert!(pieces("", 16).is_empty());
    }

    #[test]
    fn parses_string_and_part_contents() {
        let r: ChatRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {}}
                ]}
            ],
            "stop": "x",
            "stream": true
        }))
        .unwrap();
        assert!(r.stream);
        assert!(matches!(r.stop, Some(Stop::One(_))));
        let Some(Content::Parts(parts)) = &r.messages[1].content else {
            panic!()
        };
        assert!(matches!(parts[2], WirePart::Unsupported));
    }
}
