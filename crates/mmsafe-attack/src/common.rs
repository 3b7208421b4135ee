//! Helpers shared by attacks: naming, provenance, message rewriting, image IO.

use mmsafe_core::{AttackError, Case, Image, Message, ParamSpec, Params, Part, Role};
use mmsafe_typography::{Font, RgbaImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// `name` plus the parameters that differ from their defaults, e.g.
/// `figstep:size=60`: the attack's display name and the suffix of child ids.
pub fn label(name: &str, params: &Params, specs: &[ParamSpec]) -> String {
    let changed: Vec<String> = specs
        .iter()
        .filter(|s| params.str(s.name) != s.default)
        .map(|s| format!("{}={}", s.name, params.str(s.name)))
        .collect();
    if changed.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{}", changed.join(","))
    }
}

pub fn err(attack: &str, e: impl Display) -> AttackError {
    AttackError::new(attack, e.to_string())
}

/// Parse a parameter; the error names the attack, key and value.
pub fn param<T: FromStr>(attack: &str, params: &Params, key: &str) -> Result<T, AttackError>
where
    T::Err: Display,
{
    params.get::<T>(key).map_err(|e| err(attack, e.message))
}

/// A child case with one provenance step: all resolved parameter values (so
/// defaults are on record too) and attack-specific `detail`.
pub fn derive(
    case: &Case,
    label: &str,
    params: &Params,
    seed: u64,
    index: Option<usize>,
    messages: Vec<Message>,
    detail: serde_json::Value,
) -> Case {
    let values: BTreeMap<String, String> = params.values().clone();
    let mut child = case.derive(label, &values, seed, index, messages);
    if let Some(step) = child.provenance.last_mut() {
        step.detail = detail;
    }
    child
}

/// The case's messages with the last user message replaced by `parts`
/// (system prompts and earlier turns are kept).
pub fn replace_last_user(case: &Case, parts: Vec<Part>) -> Vec<Message> {
    let mut msgs = case.messages.clone();
    match msgs.iter().rposition(|m| m.role == Role::User) {
        Some(i) => msgs[i] = Message::user(parts),
        None => msgs.push(Message::user(parts)),
    }
    msgs
}

/// The images of the last user message (carried along by text attacks).
pub fn last_user_images(case: &Case) -> Vec<Image> {
    case.messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.images().cloned().collect())
        .unwrap_or_default()
}

/// Which text of a case an attack works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSource {
    /// `instruction` metadata for an unattacked case (FigStep's declarative
    /// rephrasing), else the current prompt.
    Auto,
    Instruction,
    Prompt,
    Question,
}

pub const TEXT_SOURCES: &str = "auto, instruction, prompt, question";

impl FromStr for TextSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TextSource::Auto),
            "instruction" => Ok(TextSource::Instruction),
            "prompt" => Ok(TextSource::Prompt),
            "question" => Ok(TextSource::Question),
            other => Err(format!("`{other}` is not one of {TEXT_SOURCES}")),
        }
    }
}

fn meta_str(case: &Case, key: &str) -> Option<String> {
    match case.metadata.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The text to work on and where it came from (for provenance).
pub fn source_text(
    attack: &str,
    case: &Case,
    which: TextSource,
) -> Result<(String, &'static str), AttackError> {
    let prompt = case.prompt_text();
    let got = match which {
        TextSource::Auto => match meta_str(case, "instruction") {
            Some(i) if case.provenance.is_empty() => Some((i, "metadata.instruction")),
            _ => Some((prompt, "prompt")),
        },
        TextSource::Instruction => {
            meta_str(case, "instruction").map(|i| (i, "metadata.instruction"))
        }
        TextSource::Prompt => Some((prompt, "prompt")),
        TextSource::Question => Some((case.question(), "question")),
    };
    match got {
        Some((t, src)) if !t.trim().is_empty() => Ok((t, src)),
        Some(_) => Err(err(
            attack,
            format!(
                "case `{}` has no text to use ({src:?})",
                case.id,
                src = which
            ),
        )),
        None => Err(err(
            attack,
            format!(
                "case `{}` has no `instruction` metadata (use text=prompt or text=question)",
                case.id
            ),
        )),
    }
}

/// Deterministic RNG for an attack's random choices.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Load a font spec; `auto` tries `candidates` in order. Errors name the spec.
pub fn load_font(attack: &str, spec: &str, candidates: &[&str]) -> Result<Font, AttackError> {
    let r = if spec == "auto" {
        Font::first_available(candidates)
    } else {
        Font::load(spec)
    };
    r.map_err(|e| err(attack, e))
}

/// Decode an image file (PNG or JPEG); the error names the file.
pub fn load_image_file(attack: &str, path: &str) -> Result<RgbaImage, AttackError> {
    let bytes =
        std::fs::read(path).map_err(|e| err(attack, format!("cannot read image `{path}`: {e}")))?;
    image::load_from_memory(&bytes)
        .map(|i| i.to_rgba8())
        .map_err(|e| err(attack, format!("cannot decode image `{path}`: {e}")))
}

/// Decode an in-case image; the error names its sha256.
pub fn decode_image(attack: &str, img: &Image) -> Result<RgbaImage, AttackError> {
    image::load_from_memory(img.bytes())
        .map(|i| i.to_rgba8())
        .map_err(|e| err(attack, format!("cannot decode image {}: {e}", img.sha256())))
}

pub fn png_gray(attack: &str, img: &mmsafe_typography::GrayImage) -> Result<Image, AttackError> {
    mmsafe_typography::png::encode_gray(img)
        .map(Image::png)
        .map_err(|e| err(attack, e))
}

pub fn png_rgba(attack: &str, img: &RgbaImage) -> Result<Image, AttackError> {
    mmsafe_typography::png::encode_rgba(img)
        .map(Image::png)
        .map_err(|e| err(attack, e))
}

/// Parameters of a plain text card shared by several attacks.
pub struct Card {
    pub font: Font,
    pub size: f32,
    pub width: u32,
    pub height: u32,
    pub margin: u32,
    pub overflow: mmsafe_typography::Overflow,
    pub align: mmsafe_typography::Align,
    pub background: mmsafe_typography::Rgba<u8>,
    pub color: mmsafe_typography::Rgba<u8>,
}

pub const CARD_PARAMS_HELP_OVERFLOW: &str =
    "text too long for the card: shrink (smaller font, min 8 px), paginate (several images), clip, error";

impl Card {
    /// Read the common card parameters (`font`, `size`, `width`, `height`,
    /// `margin`, `overflow`, `align`, `background`, `color`).
    pub fn from_params(attack: &str, params: &Params, fonts: &[&str]) -> Result<Card, AttackError> {
        let color = |k: &str| {
            mmsafe_typography::parse_color(params.str(k))
                .map_err(|e| err(attack, format!("{k}: {e}")))
        };
        Ok(Card {
            font: load_font(attack, params.str("font"), fonts)?,
            size: param(attack, params, "size")?,
            width: param(attack, params, "width")?,
            height: param(attack, params, "height")?,
            margin: param(attack, params, "margin")?,
            overflow: param(attack, params, "overflow")?,
            align: param(attack, params, "align")?,
            background: color("background")?,
            color: color("color")?,
        })
    }

    /// Render `text` wrapped to the card; one image per page.
    pub fn render(&self, attack: &str, text: &str) -> Result<Vec<RgbaImage>, AttackError> {
        let m = self.margin as i32;
        if self.width <= 2 * self.margin || self.height <= 2 * self.margin {
            return Err(err(attack, "width and height must exceed twice the margin"));
        }
        let mut style = mmsafe_typography::TextStyle::new(self.font.clone(), self.size);
        style.align = self.align;
        let fit = mmsafe_typography::Fit {
            rect: mmsafe_typography::Rect::new(
                m,
                m,
                self.width - 2 * self.margin,
                self.height - 2 * self.margin,
            ),
            wrap: mmsafe_typography::Wrap::Pixels,
            overflow: self.overflow,
            min_size: 8.0,
        };
        mmsafe_typography::render_text(
            self.width,
            self.height,
            self.background,
            self.color,
            text,
            &style,
            &fit,
            0.0,
        )
        .map_err(|e| err(attack, e))
    }
}

/// Marks where the request sits in a template step's recorded `frame`.
pub const REQUEST_SLOT: &str = "{request}";

/// The case's prompt when it is a text template wrapped around a request:
/// the request itself and the template's framing with the request cut out.
#[derive(Debug, Clone, PartialEq)]
pub struct Framed {
    pub request: String,
    /// The prompt with every occurrence of the request replaced by [`REQUEST_SLOT`].
    pub frame: String,
    /// Where the innermost template took the request from (`prompt`,
    /// `metadata.instruction`, `question`).
    pub request_source: String,
    /// The innermost template wrapped the unattacked case.
    pub original: bool,
}

fn detail_str<'a>(step: &'a mmsafe_core::ProvenanceStep, key: &str) -> Option<&'a str> {
    step.detail.get(key).and_then(|v| v.as_str())
}

/// The framed request when the case's last attack step was a text template
/// (which records `request` and `frame`). Nested templates are unwrapped:
/// `template:a+template:b` gives b's frame around a's frame around the request.
/// Any other last step (a converter, an image attack) means the prompt is no
/// longer a frame around the plain request, so `None`.
pub fn framed_request(case: &Case) -> Option<Framed> {
    let mut i = case.provenance.len().checked_sub(1)?;
    let step = &case.provenance[i];
    let mut frame = detail_str(step, "frame")?.to_string();
    let mut request = detail_str(step, "request")?.to_string();
    let mut source = detail_str(step, "text_source")
        .unwrap_or("prompt")
        .to_string();
    while source == "prompt" && i > 0 {
        let prev = &case.provenance[i - 1];
        let (Some(f), Some(r)) = (detail_str(prev, "frame"), detail_str(prev, "request")) else {
            break;
        };
        frame = frame.replace(REQUEST_SLOT, f);
        request = r.to_string();
        source = detail_str(prev, "text_source")
            .unwrap_or("prompt")
            .to_string();
        i -= 1;
    }
    Some(Framed {
        request,
        frame,
        request_source: source,
        original: i == 0,
    })
}

/// The text a typographic attack renders, and the frame its own text prompt
/// goes into.
#[derive(Debug, Clone)]
pub struct TypoText {
    pub text: String,
    pub from: String,
    /// The preceding template's framing; the attack's prompt replaces
    /// [`REQUEST_SLOT`] in it (see [`TypoText::prompt`]).
    pub frame: Option<String>,
    /// `text` is the unattacked case's prompt as written, so attacks may
    /// rephrase it by rule (FigStep's "Steps to …").
    pub original_prompt: bool,
}

impl TypoText {
    /// The attack's own prompt, inside the template's framing when there is one.
    pub fn prompt(&self, own: &str) -> String {
        match &self.frame {
            Some(f) => f.replace(REQUEST_SLOT, own),
            None => own.to_string(),
        }
    }
}

/// Text selection for image attacks. With `text=auto` after a text template,
/// the image carries the request the template wrapped (the case's
/// `instruction` metadata when the template wrapped the unattacked prompt and
/// a loader supplied one), and the framing stays in the text. Otherwise as
/// [`source_text`].
pub fn typo_text(attack: &str, case: &Case, which: TextSource) -> Result<TypoText, AttackError> {
    if which == TextSource::Auto {
        if let Some(f) = framed_request(case) {
            let instruction = meta_str(case, "instruction");
            let (text, from, original_prompt) = match instruction {
                Some(i) if f.original && f.request_source == "prompt" => {
                    (i, "metadata.instruction (template request)", false)
                }
                _ => (
                    f.request,
                    "template request",
                    f.original && f.request_source == "prompt",
                ),
            };
            if !text.trim().is_empty() {
                return Ok(TypoText {
                    text,
                    from: from.to_string(),
                    frame: Some(f.frame),
                    original_prompt,
                });
            }
        }
    }
    if which == TextSource::Question && meta_str(case, "question").is_none() {
        if let Some(f) = framed_request(case) {
            return Ok(TypoText {
                text: f.request,
                from: "template request".to_string(),
                frame: Some(f.frame),
                original_prompt: false,
            });
        }
    }
    let (text, from) = source_text(attack, case, which)?;
    // The original question is the request a template wrapped, so its
    // framing still belongs around the attack's prompt.
    let frame = match which {
        TextSource::Question => framed_request(case).map(|f| f.frame),
        _ => None,
    };
    Ok(TypoText {
        text,
        from: from.to_string(),
        frame,
        original_prompt: from == "prompt" && case.provenance.is_empty(),
    })
}
