//! Wire request → core `Request`, enforcing the image policy: `data:` URLs
//! are decoded locally; `http(s)` URLs are fetched only from allow-listed
//! hosts (no redirects, size-capped), so the proxy cannot be used to reach
//! internal addresses (SSRF). Every other URL is refused. An image's media
//! type is the one its bytes show, never the one the client declared.
//! Pixels are checked afterwards, off the async runtime (`images`).

use crate::config::Limits;
use crate::error::ApiError;
use crate::images::Located;
use crate::wire::{ChatRequest, Content, Stop, WirePart};
use mmsafe_core::{Image, Message, Part, Request, Role};

pub struct ImagePolicy<'a> {
    pub limits: &'a Limits,
    pub hosts: &'a [String],
    pub client: &'a reqwest::Client,
}

/// The core request and its images, each with where the request put it.
pub async fn to_request(
    chat: &ChatRequest,
    policy: &ImagePolicy<'_>,
) -> Result<(Request, Vec<Located>), ApiError> {
    let mut messages = Vec::with_capacity(chat.messages.len());
    let mut located = Vec::new();
    let mut images = 0usize;
    for (i, m) in chat.messages.iter().enumerate() {
        let role = match m.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(ApiError::bad_request(format!(
                    "messages[{i}].role `{other}` is not supported (system, developer, user, assistant)"
                )))
            }
        };
        let mut content = Vec::new();
        match &m.content {
            None => {}
            Some(Content::Text(t)) => content.push(Part::text(t.clone())),
            Some(Content::Parts(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    match p {
                        WirePart::Text { text } => content.push(Part::text(text.clone())),
                        WirePart::ImageUrl { image_url } => {
                            images += 1;
                            if images > policy.limits.max_images {
                                return Err(ApiError::too_large(format!(
                                    "more than {} images in one request",
                                    policy.limits.max_images
                                )));
                            }
                            let at = format!("messages[{i}].content[{j}]");
                            let img = image(&image_url.url, policy)
                                .await
                                .map_err(|e| e.context(&at))?;
                            located.push(Located {
                                at,
                                image: img.clone(),
                            });
                            content.push(Part::image(img));
                        }
                        WirePart::Unsupported => {
                            return Err(ApiError::bad_request(format!(
                                "messages[{i}].content[{j}]: only `text` and `image_url` parts are supported"
                            )))
                        }
                    }
                }
            }
        }
        messages.push(Message { role, content });
    }
    if messages.is_empty() {
        return Err(ApiError::bad_request("`messages` is empty"));
    }
    let req = Request {
        messages,
        max_tokens: chat.max_completion_tokens.or(chat.max_tokens),
        temperature: chat.temperature,
        top_p: chat.top_p,
        seed: chat.seed,
        stop: match &chat.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        },
    };
    Ok((req, located))
}

async fn image(url: &str, policy: &ImagePolicy<'_>) -> Result<Image, ApiError> {
    let max = policy.limits.max_image_bytes;
    if url.starts_with("data:") {
        // Base64 is 4/3 of the bytes: refuse before decoding.
        if url.len() / 4 * 3 > max + 3 + 256 {
            return Err(ApiError::too_large(format!("image exceeds {max} bytes")));
        }
        let img = Image::from_data_url(url).map_err(ApiError::bad_request)?;
        if img.bytes().len() > max {
            return Err(ApiError::too_large(format!("image exceeds {max} bytes")));
        }
        return sniffed(img);
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::bad_request("image_url is neither a data: URL nor a valid URL"))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = matches!(parsed.scheme(), "http" | "https")
        && policy.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host));
    if !allowed {
        return Err(ApiError::bad_request(format!(
            "image URLs are not fetched unless their host is allow-listed (host `{host}`); \
             send the image as a data: URL"
        )));
    }
    let mut resp = policy
        .client
        .get(parsed)
        .send()
        .await
        .map_err(|e| ApiError::bad_gateway(format!("fetching image from `{host}`: {e}")))?;
    if !resp.status().is_success() {
        return Err(ApiError::bad_gateway(format!(
            "fetching image from `{host}`: HTTP {}",
            resp.status()
        )));
    }
    if resp.content_length().is_some_and(|n| n as usize > max) {
        return Err(ApiError::too_large(format!("image exceeds {max} bytes")));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ApiError::bad_gateway(format!("fetching image from `{host}`: {e}")))?
    {
        buf.extend_from_slice(&chunk);
        if buf.len() > max {
            return Err(ApiError::too_large(format!("image exceeds {max} bytes")));
        }
    }
    Image::sniff(buf).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the file fetched from `{host}` is not a supported image"
        ))
    })
}

/// The image labelled with the type its bytes show: the upstream must not be
/// told `text/html` about a PNG (or PNG about an HTML page).
fn sniffed(img: Image) -> Result<Image, ApiError> {
    let Some(t) = mmsafe_core::case::sniff_media_type(img.bytes()) else {
        return Err(ApiError::bad_request(format!(
            "the data: URL declares `{}` but holds no PNG, JPEG, GIF, WebP or BMP image",
            img.media_type()
        )));
    };
    if img.media_type() == t {
        return Ok(img);
    }
    Ok(Image::new(img.shared_bytes(), t))
}
