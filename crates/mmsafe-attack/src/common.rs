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
