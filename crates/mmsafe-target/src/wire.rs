//! OpenAI chat-completions wire format: the request we send and the reply we read.

use mmsafe_core::{Part, Request};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Serialize)]
pub(crate) struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    stream: bool,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: ChatContent<'a>,
}

/// A lone text part goes as a plain string: some servers (and many chat
/// templates) accept arrays only for user messages.
#[derive(Serialize)]
#[serde(untagged)]
enum ChatContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<ChatPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ChatPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

impl<'a> ChatRequest<'a> {
    pub(crate) fn new(model: &'a str, req: &'a Request) -> ChatRequest<'a> {
        let messages = req
            .messages
            .iter()
            .map(|m| {
                let content = match m.content.as_slice() {
                    [] => ChatContent::Text(Cow::Borrowed("")),
                    [Part::Text { text }] => ChatContent::Text(Cow::Borrowed(text)),
                    parts => ChatContent::Parts(
                        parts
                            .iter()
                            .map(|p| match p {
                                Part::Text { text } => ChatPart::Text { text },
                                Part::Image { image } => ChatPart::ImageUrl {
                                    image_url: ImageUrl {
                                        url: image.data_url(),
                                    },
                                },
                            })
                            .collect(),
                    ),
                };
                ChatMessage {
                    role: m.role.as_str(),
                    content,
                }
            })
            .collect();
        ChatRequest {
            model,
            messages,
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            stop: &req.stop,
            stream: false,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ChatResponse {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub model: Option<String>,
    /// Some servers answer errors with HTTP 200 and an `error` object.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub message: Option<ChoiceMessage>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ChoiceMessage {
    #[serde(default)]
    pub content: Option<ReplyContent>,
    /// OpenAI's structured refusal, sent instead of `content`.
    #[serde(default)]
    pub refusal: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ReplyContent {
    Text(String),
    Parts(Vec<ReplyPart>),
}

#[derive(Deserialize)]
pub(crate) struct ReplyPart {
    #[serde(default)]
    pub text: Option<String>,
}

impl ReplyContent {
    pub(crate) fn into_text(self) -> String {
        match self {
            ReplyContent::Text(t) => t,
            ReplyContent::Parts(parts) => parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

/// The human part of an error body: `error.message`, `message`, or the raw text.
pub(crate) fn error_detail(body: &[u8]) -> String {
    const MAX: usize = 300;
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message").or(Some(e)))
                .or_else(|| v.get("message"))
                .or_else(|| v.get("detail"))
                .map(|m| match m {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    } else if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Image, Message};

    #[test]
    fn images_go_as_data_url_parts_and_lone_text_as_string() {
        let img = Image::png(b"\x89PNG\r\n\x1a\nxx".to_vec());
        let mut req = Request::new(vec![
            Message::system("sys"),
            Message::user(vec![Part::text("look"), Part::image(img)]),
        ]);
        req.temperature = Some(0.0);
        let v = serde_json::to_value(ChatRequest::new("m", &req)).unwrap();
        assert_eq!(v["messages"][0]["content"], "sys");
        assert_eq!(v["messages"][1]["content"][0]["type"], "text");
        assert_eq!(v["messages"][1]["content"][1]["type"], "image_url");
        assert!(v["messages"][1]["content"][1]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert_eq!(v["temperature"], 0.0);
        assert!(v.get("max_tokens").is_none());
        assert!(v.get("stop").is_none());
        assert_eq!(v["stream"], false);
    }

    #[test]
    fn error_detail_prefers_the_message() {
        assert_eq!(
            error_detail(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(error_detail(b"plain failure"), "plain failure");
        assert_eq!(error_detail(b""), "(empty body)");
        assert!(error_detail(&[b'x'; 1000]).ends_with('…'));
    }
}
