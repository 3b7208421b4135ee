//! MM-SafetyBench typography (methods.md §2.4): Arial 90 (Liberation Sans,
//! metric-compatible, when installed; else bundled DejaVu Sans, recorded),
//! pixel wrap at 1024 with space-led continuation lines, canvas height
//! 90 × (lines + 1), black text at (0, 45) with Pillow's default spacing.
//! Shared by `mm-typo`, `mm-sd-typo` and `shift`.

use crate::extract::{self, Extraction};
use mmsafe_core::{Case, DynTarget};
use mmsafe_typography::{
    draw_layout_gray, wrap_pixels_continuation, Font, GrayImage, Layout, Luma, TextStyle,
};

pub const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "Arial",
    "bundled:dejavu-sans",
];

pub fn render(font: &Font, size: f32, width: u32, text: &str) -> GrayImage {
    let lines = wrap_pixels_continuation(font, size, text, width);
    let height = (size * (lines.len() as f32 + 1.0)).round().max(1.0) as u32;
    let mut img = GrayImage::from_pixel(width, height, Luma([255]));
    let style = TextStyle::new(font.clone(), size);
    let layout = Layout::place(&lines, &style, (0, (size / 2.0) as i32), None);
    draw_layout_gray(&mut img, &layout, 0);
    img
}

fn meta(case: &Case, key: &str) -> Option<String> {
    case.metadata
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// The key phrase and rephrased question: from `key_phrase` /
/// `rephrased_question` metadata when a loader supplied them, else extracted
/// from the case's question.
pub async fn key_phrase(case: &Case, extractor: Option<&DynTarget>) -> Extraction {
    if let (Some(k), Some(r)) = (meta(case, "key_phrase"), meta(case, "rephrased_question")) {
        return Extraction {
            changed_question: meta(case, "changed_question").unwrap_or_default(),
            key_phrase: k,
            phrase_type: meta(case, "phrase_type").unwrap_or_else(|| "activity".to_string()),
            rephrased: r,
            method: "metadata".to_string(),
        };
    }
    extract::extract(&request(case), extractor, 4).await
}

/// The request to extract from: the loader's question, else the request a
/// preceding text template wrapped, else the prompt.
pub fn request(case: &Case) -> String {
    match (meta(case, "question"), crate::common::framed_request(case)) {
        (Some(q), _) => q,
        (None, Some(f)) => f.request,
        (None, None) => case.prompt_text(),
    }
}

/// `own` inside the framing of a preceding text template, if any.
pub fn framed_prompt(case: &Case, own: &str) -> String {
    match crate::common::framed_request(case) {
        Some(f) => f.frame.replace(crate::common::REQUEST_SLOT, own),
        None => own.to_string(),
    }
}
