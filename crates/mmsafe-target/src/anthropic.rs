//! `Anthropic`: the native Messages API (`POST {base}/v1/messages`). One call = one
//! HTTP request; retries, limits, timeout and cache are layers around it.

use std::time::Instant;

use async_trait::async_trait;
use mmsafe_core::{
    FinishReason, Part, Request, Response, Role, Target, TargetError, TargetErrorKind, TargetInfo,
    Usage,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::native::{
    image_base64, parse_native_spec, provider_error_detail, read_native_key, redact_spec,
    secret_header, status_kind, Endpoint,
};
use crate::{http_client, TargetOptions};

pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const ANTHROPIC_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// The API version header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The Messages API requires `max_tokens`; this is sent when the request has none.
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 1024;

pub struct Anthropic {
    info: TargetInfo,
    endpoint: Endpoint,
}

impl std::fmt::Debug for Anthropic {
    // The key lives in the endpoint's headers, which are left out on purpose.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("info", &self.info)
            .field("url", &self.endpoint.display_url)
            .finish()
    }
}

impl Anthropic {
    /// Build from `anthropic:<model>` or `anthropic:<base-url>#<model>`, reading the
    /// key from `--api-key-env` or `ANTHROPIC_API_KEY`.
    pub fn from_spec(spec: &str, opts: &TargetOptions) -> Result<Anthropic, TargetError> {
        let s = parse_native_spec(spec, "anthropic", ANTHROPIC_BASE_URL)?;
        let key = read_native_key(
            opts.api_key_env.as_deref(),
            &[ANTHROPIC_KEY_ENV],
            &s.display_spec,
        )?;
        Anthropic::new(&s.base_url, &s.model, Some(&key), &s.display_spec)
    }

    /// `base_url` like `https://api.anthropic.com` (no `/v1`); `spec` is what
    /// `info().spec` reports and must not contain secrets. No key sends no
    /// `x-api-key` header (for proxies that add it themselves).
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<&str>,
        spec: &str,
    ) -> Result<Anthropic, TargetError> {
        // Callers are told to pass a clean spec; redacting here makes sure of it.
        let spec = &redact_spec(spec);
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(k) = api_key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                secret_header(k, spec)?,
            );
        }
        Ok(Anthropic {
            info: TargetInfo {
                spec: spec.to_string(),
                model: model.to_string(),
                accepts_images: true,
            },
            endpoint: Endpoint::new(base_url, "v1/messages", spec, headers, http_client()?)?,
        })
    }

    /// Share a client (and its connection pool) with other targets.
    pub fn with_client(mut self, client: reqwest::Client) -> Anthropic {
        self.endpoint.set_client(client);
        self
    }

    /// The endpoint as errors show it (credentials redacted).
    pub fn url(&self) -> &str {
        &self.endpoint.display_url
    }

    fn parse(&self, body: &[u8]) -> Result<Response, TargetError> {
        let wire: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
            self.endpoint.err(
                TargetErrorKind::Malformed,
                format!("reply is not a Messages API message: {e}"),
            )
        })?;
        if wire.kind.as_deref() == Some("error") {
            return Err(self.endpoint.err(
                TargetErrorKind::Malformed,
                format!(
                    "HTTP 200 carrying an error: {}",
                    provider_error_detail(body)
                ),
            ));
        }
        let Some(content) = wire.content else {
            return Err(self
                .endpoint
                .err(TargetErrorKind::Malformed, "reply has no `content`"));
        };
        // Thinking and tool blocks are not the answer; only text blocks are.
        let text = content
            .into_iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text)
            .collect::<Vec<_>>()
            .join("");
        let usage = wire.usage.unwrap_or_default();
        Ok(Response {
            text,
            finish_reason: wire
                .stop_reason
                .as_deref()
                .map_or(FinishReason::Stop, finish_reason),
            usage: Usage {
                // Cached prompt tokens are reported apart from `input_tokens`.
                prompt_tokens: usage.input_tokens
                    + usage.cache_creation_input_tokens
                    + usage.cache_read_input_tokens,
                completion_tokens: usage.output_tokens,
            },
            latency_ms: 0.0,
            model: wire.model,
            cached: false,
            retries: 0,
            events: Vec::new(),
        })
    }
}

/// `refusal` is the provider's safety stop, so it is a content filter (judges:
/// undecided), not a refusal written by the model.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::parse(other),
    }
}

#[async_trait]
impl Target for Anthropic {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let start = Instant::now();
        // `system` takes text only; dropping the image would silently test something else.
        if req
            .messages
            .iter()
            .any(|m| m.role == Role::System && m.images().next().is_some())
        {
            return Err(self.endpoint.err(
                TargetErrorKind::BadRequest,
                "a system message carries an image; the Messages API takes only text in `system`",
            ));
        }
        let body =
            serde_json::to_vec(&MessagesRequest::new(&self.info.model, &req)).map_err(|e| {
                self.endpoint.err(
                    TargetErrorKind::BadRequest,
                    format!("cannot encode request: {e}"),
                )
            })?;
        drop(req);
        let bytes = match self.endpoint.post_json(body).await? {
            Ok(bytes) => bytes,
            Err(f) => {
                let detail = provider_error_detail(&f.body);
                return Err(self.endpoint.status_err(&f, status_kind(f.status), &detail));
            }
        };
        let mut out = self.parse(&bytes)?;
        out.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        Ok(out)
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    Image { source: ImageSource<'a> },
}

#[derive(Serialize)]
struct ImageSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: String,
}

impl<'a> MessagesRequest<'a> {
    /// System messages become the top-level `system` text (the API has no system
    /// role). The API has no seed, so `seed` is not sent.
    fn new(model: &'a str, req: &'a Request) -> MessagesRequest<'a> {
        let system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.text())
            .filter(|t| !t.is_empty())
            .collect();
        let messages = req
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| WireMessage {
                role: match m.role {
                    Role::Assistant => "assistant",
                    _ => "user",
                },
                // The API rejects empty text blocks.
                content: m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text { text } if text.is_empty() => None,
                        Part::Text { text } => Some(Block::Text { text }),
                        Part::Image { image } => Some(Block::Image {
                            source: ImageSource {
                                kind: "base64",
                                media_type: image.media_type(),
                                data: image_base64(image),
                            },
                        }),
                    })
                    .collect(),
            })
            .collect();
        MessagesRequest {
            model,
            max_tokens: req.max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS),
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages,
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences: &req.stop,
        }
    }
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    content: Option<Vec<ReplyBlock>>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ReplyBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Image, Message};

    #[test]
    fn system_goes_top_level_and_images_as_base64_blocks() {
        let img = Image::new(b"\xff\xd8\xffjpeg".to_vec(), "image/jpeg");
        let mut req = Request::new(vec![
            Message::system("be safe"),
            Message::user(vec![Part::text("look"), Part::image(img)]),
            Message::assistant("ok"),
            Message::user_text(""),
        ]);
        req.seed = Some(7);
        let v = serde_json::to_value(MessagesRequest::new("claude", &req)).unwrap();
        assert_eq!(v["system"], "be safe");
        assert_eq!(v["max_tokens"], ANTHROPIC_DEFAULT_MAX_TOKENS);
        assert_eq!(v["messages"].as_array().unwrap().len(), 3);
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(v["messages"][0]["content"][0]["type"], "text");
        let src = &v["messages"][0]["content"][1]["source"];
        assert_eq!(src["type"], "base64");
        assert_eq!(src["media_type"], "image/jpeg");
        assert_eq!(src["data"], "/9j/anBlZw==");
        assert_eq!(v["messages"][1]["role"], "assistant");
        assert_eq!(v["messages"][2]["content"], serde_json::json!([]));
        for absent in ["seed", "temperature", "top_p", "stop_sequences"] {
            assert!(v.get(absent).is_none(), "{absent} sent: {v}");
        }
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
        assert_eq!(
            finish_reason("tool_use"),
            FinishReason::Other("tool_use".into())
        );
    }
}
