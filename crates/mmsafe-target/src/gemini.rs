//! `Gemini`: Google's native `generateContent` API
//! (`POST {base}/v1beta/models/{model}:generateContent`). One call = one HTTP
//! request; retries, limits, timeout and cache are layers around it.

use std::time::Instant;

use async_trait::async_trait;
use mmsafe_core::{
    FinishReason, Part, Request, Response, Role, Target, TargetError, TargetErrorKind, TargetInfo,
    Usage,
};
use reqwest::header::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};

use crate::native::{
    image_base64, parse_native_spec, provider_error_detail, read_native_key, redact_spec,
    secret_header, status_kind, Endpoint, HttpFailure,
};
use crate::{http_client, TargetOptions};

pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Tried in order when `--api-key-env` is not given.
pub const GEMINI_KEY_ENVS: &[&str] = &["GEMINI_API_KEY", "GOOGLE_API_KEY"];

pub struct Gemini {
    info: TargetInfo,
    endpoint: Endpoint,
}

impl std::fmt::Debug for Gemini {
    // The key lives in the endpoint's headers, which are left out on purpose.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemini")
            .field("info", &self.info)
            .field("url", &self.endpoint.display_url)
            .finish()
    }
}

impl Gemini {
    /// Build from `gemini:<model>` or `gemini:<base-url>#<model>`, reading the key
    /// from `--api-key-env`, else `GEMINI_API_KEY`, else `GOOGLE_API_KEY`.
    pub fn from_spec(spec: &str, opts: &TargetOptions) -> Result<Gemini, TargetError> {
        let s = parse_native_spec(spec, "gemini", GEMINI_BASE_URL)?;
        // Check the model before asking for a key: a typo is the likelier mistake.
        model_path(&s.model, &s.display_spec)?;
        let key = read_native_key(
            opts.api_key_env.as_deref(),
            GEMINI_KEY_ENVS,
            &s.display_spec,
        )?;
        Gemini::new(&s.base_url, &s.model, Some(&key), &s.display_spec)
    }

    /// `base_url` like `https://generativelanguage.googleapis.com` (no `/v1beta`);
    /// `model` like `gemini-2.0-flash`, or a full resource name such as
    /// `tunedModels/x`. `spec` is what `info().spec` reports and must not contain
    /// secrets. The key goes in the `x-goog-api-key` header, never in the URL.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<&str>,
        spec: &str,
    ) -> Result<Gemini, TargetError> {
        // Callers are told to pass a clean spec; redacting here makes sure of it.
        let spec = &redact_spec(spec);
        let path = model_path(model, spec)?;
        let mut headers = HeaderMap::new();
        if let Some(k) = api_key {
            headers.insert(
                HeaderName::from_static("x-goog-api-key"),
                secret_header(k, spec)?,
            );
        }
        Ok(Gemini {
            info: TargetInfo {
                spec: spec.to_string(),
                model: model.to_string(),
                accepts_images: true,
            },
            endpoint: Endpoint::new(
                base_url,
                &format!("v1beta/{path}:generateContent"),
                spec,
                headers,
                http_client()?,
            )?,
        })
    }

    /// Share a client (and its connection pool) with other targets.
    pub fn with_client(mut self, client: reqwest::Client) -> Gemini {
        self.endpoint.set_client(client);
        self
    }

    /// The endpoint as errors show it (credentials redacted).
    pub fn url(&self) -> &str {
        &self.endpoint.display_url
    }

    fn failure(&self, f: &HttpFailure) -> TargetError {
        let body: Option<serde_json::Value> = serde_json::from_slice(&f.body).ok();
        let details = body
            .as_ref()
            .and_then(|b| b.pointer("/error/details"))
            .and_then(|d| d.as_array());
        // Google answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        let bad_key = details.is_some_and(|ds| {
            ds.iter()
                .any(|d| d.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID"))
        });
        let kind = if bad_key {
            TargetErrorKind::Auth
        } else {
            status_kind(f.status)
        };
        let mut e = self
            .endpoint
            .status_err(f, kind, &provider_error_detail(&f.body));
        // Google often sends the wait in the body (RetryInfo) rather than Retry-After.
        if e.retry_after_s.is_none() {
            e.retry_after_s = details.and_then(|ds| ds.iter().find_map(retry_info_delay));
        }
        e
    }

    fn parse(&self, body: &[u8]) -> Result<Response, TargetError> {
        let wire: GenerateResponse = serde_json::from_slice(body).map_err(|e| {
            self.endpoint.err(
                TargetErrorKind::Malformed,
                format!("reply is not a generateContent response: {e}"),
            )
        })?;
        let usage = wire.usage_metadata.unwrap_or_default();
        let usage = Usage {
            prompt_tokens: usage.prompt_token_count,
            // Thinking tokens are billed as output, like OpenAI's reasoning tokens.
            completion_tokens: usage.candidates_token_count + usage.thoughts_token_count,
        };
        let (text, finish_reason) = match wire.candidates.into_iter().next() {
            Some(c) => {
                let text = c
                    .content
                    .map(|content| {
                        content
                            .parts
                            .into_iter()
                            .filter(|p| !p.thought)
                            .filter_map(|p| p.text)
                            .collect::<Vec<_>>()
                            .join("")
                    })
                    .unwrap_or_default();
                let finish = c
                    .finish_reason
                    .as_deref()
                    .map_or(FinishReason::Stop, finish_reason);
                (text, finish)
            }
            // The prompt itself was blocked: the provider's moderation answered,
            // which is a response (content filter), not a failed call.
            None if wire
                .prompt_feedback
                .as_ref()
                .is_some_and(|p| p.block_reason.is_some()) =>
            {
                (String::new(), FinishReason::ContentFilter)
            }
            None => {
                return Err(self.endpoint.err(
                    TargetErrorKind::Malformed,
                    "reply has no candidates and no promptFeedback.blockReason",
                ))
            }
        };
        Ok(Response {
            text,
            finish_reason,
            usage,
            latency_ms: 0.0,
            model: wire.model_version,
            cached: false,
            retries: 0,
            events: Vec::new(),
        })
    }
}

/// `models/<model>` unless the name is already a resource path (`tunedModels/x`).
/// Only characters that are safe in a URL path are accepted, so the model cannot
/// change the endpoint.
fn model_path(model: &str, spec: &str) -> Result<String, TargetError> {
    let ok = !model.is_empty()
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/'))
        && !model.split('/').any(|seg| seg.is_empty() || seg == "..");
    if !ok {
        return Err(TargetError::new(
            TargetErrorKind::Config,
            format!("target `{spec}`: `{model}` is not a Gemini model name (letters, digits, `-`, `.`, `_`, `/`)"),
        ));
    }
    Ok(if model.contains('/') {
        model.to_string()
    } else {
        format!("models/{model}")
    })
}

/// `SAFETY`, `PROHIBITED_CONTENT`, `BLOCKLIST`, `SPII` and `IMAGE_SAFETY` are the
/// provider's moderation (judges: undecided). Others keep their lower-cased name.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// Seconds from a `google.rpc.RetryInfo` detail (`"retryDelay": "37s"`).
fn retry_info_delay(detail: &serde_json::Value) -> Option<f64> {
    let is_retry_info = detail
        .get("@type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
    if !is_retry_info {
        return None;
    }
    let secs: f64 = detail
        .get("retryDelay")?
        .as_str()?
        .strip_suffix('s')?
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs)
}

#[async_trait]
impl Target for Gemini {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let start = Instant::now();
        let body = serde_json::to_vec(&GenerateRequest::new(&req)).map_err(|e| {
            self.endpoint.err(
                TargetErrorKind::BadRequest,
                format!("cannot encode request: {e}"),
            )
        })?;
        drop(req);
        let bytes = match self.endpoint.post_json(body).await? {
            Ok(bytes) => bytes,
            Err(f) => return Err(self.failure(&f)),
        };
        let mut out = self.parse(&bytes)?;
        out.latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        Ok(out)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    generation_config: GenerationConfig<'a>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WirePart<'a> {
    Text {
        text: &'a str,
    },
    Inline {
        #[serde(rename = "inlineData")]
        inline_data: InlineData<'a>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    mime_type: &'a str,
    data: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_output_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.seed.is_none()
            && self.stop_sequences.is_empty()
    }
}

/// The API rejects empty text parts, so they are dropped.
fn wire_parts(parts: &[Part]) -> impl Iterator<Item = WirePart<'_>> {
    parts.iter().filter_map(|p| match p {
        Part::Text { text } if text.is_empty() => None,
        Part::Text { text } => Some(WirePart::Text { text }),
        Part::Image { image } => Some(WirePart::Inline {
            inline_data: InlineData {
                mime_type: image.media_type(),
                data: image_base64(image),
            },
        }),
    })
}

impl<'a> GenerateRequest<'a> {
    fn new(req: &'a Request) -> GenerateRequest<'a> {
        // System parts (images included) are passed through as they are; the API,
        // not mmsafe, decides what a system instruction may hold.
        let system: Vec<WirePart<'a>> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .flat_map(|m| wire_parts(&m.content))
            .collect();
        let contents = req
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| Content {
                role: match m.role {
                    Role::Assistant => "model",
                    _ => "user",
                },
                parts: wire_parts(&m.content).collect(),
            })
            .collect();
        GenerateRequest {
            contents,
            system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
            generation_config: GenerationConfig {
                max_output_tokens: req.max_tokens,
                temperature: req.temperature,
                top_p: req.top_p,
                // The API takes a 32-bit seed; keep the low 31 bits so it stays
                // positive and deterministic for a given u64 seed.
                seed: req.seed.map(|s| (s & 0x7fff_ffff) as i32),
                stop_sequences: &req.stop,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<CandidateContent>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<ReplyPart>,
}

#[derive(Deserialize)]
struct ReplyPart {
    #[serde(default)]
    text: Option<String>,
    /// Thought summaries of thinking models are not the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Image, Message};

    #[test]
    fn request_shape_roles_and_generation_config() {
        let img = Image::png(b"\x89PNG\r\n\x1a\nxx".to_vec());
        let mut req = Request::new(vec![
            Message::system("be safe"),
            Message::user(vec![Part::text("look"), Part::image(img)]),
            Message::assistant("ok"),
        ]);
        req.seed = Some(u64::MAX);
        req.stop = vec!["END".into()];
        req.messages[0]
            .content
            .push(Part::image(Image::png(b"\x89PNG\r\n\x1a\n".to_vec())));
        let v = serde_json::to_value(GenerateRequest::new(&req)).unwrap();
        assert_eq!(v["systemInstruction"]["parts"][0]["text"], "be safe");
        assert_eq!(
            v["systemInstruction"]["parts"][1]["inlineData"]["mimeType"],
            "image/png"
        );
        assert_eq!(v["contents"].as_array().unwrap().len(), 2);
        assert_eq!(v["contents"][0]["role"], "user");
        assert_eq!(v["contents"][0]["parts"][0]["text"], "look");
        let inline = &v["contents"][0]["parts"][1]["inlineData"];
        assert_eq!(inline["mimeType"], "image/png");
        assert_eq!(inline["data"], "iVBORw0KGgp4eA==");
        assert_eq!(v["contents"][1]["role"], "model");
        assert_eq!(v["generationConfig"]["seed"], 0x7fff_ffff);
        assert_eq!(v["generationConfig"]["stopSequences"][0], "END");
        assert!(v["generationConfig"].get("temperature").is_none());
        let bare = Request::new(vec![Message::user_text("hi")]);
        let v = serde_json::to_value(GenerateRequest::new(&bare)).unwrap();
        assert!(v.get("generationConfig").is_none(), "{v}");
        assert!(v.get("systemInstruction").is_none(), "{v}");
    }

    #[test]
    fn model_names_become_resource_paths() {
        assert_eq!(
            model_path("gemini-2.0-flash", "s").unwrap(),
            "models/gemini-2.0-flash"
        );
        assert_eq!(
            model_path("tunedModels/abc", "s").unwrap(),
            "tunedModels/abc"
        );
        for bad in ["", "a?key=x", "a b", "../x", "models/", "a:b"] {
            let e = model_path(bad, "gemini:x").unwrap_err();
            assert_eq!(e.kind, TargetErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn finish_reasons_and_retry_info() {
        assert_eq!(finish_reason("STOP"), FinishReason::Stop);
        assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::Length);
        for block in ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST"] {
            assert_eq!(finish_reason(block), FinishReason::ContentFilter);
        }
        assert_eq!(
            finish_reason("RECITATION"),
            FinishReason::Other("recitation".into())
        );
        let d = serde_json::json!({"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"});
        assert_eq!(retry_info_delay(&d), Some(1.5));
        let d =
            serde_json::json!({"@type":"type.googleapis.com/google.rpc.Help","retryDelay":"1s"});
        assert_eq!(retry_info_delay(&d), None);
    }
}
