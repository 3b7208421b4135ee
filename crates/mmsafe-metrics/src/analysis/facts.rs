//! What an attacked case's provenance says about its image: how readable the
//! rendered text was (OCR word accuracy measured when the attack ran) and how
//! it was rendered (font size, contrast, layout).

use mmsafe_core::ProvenanceStep;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCR word accuracy at or above which an image's text counts as readable.
pub const READABLE: f64 = 0.5;

/// Facts about one stored case, keyed in [`FactsMap`] by (attack, case id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFacts {
    /// Images in the case's messages; 0 for a text-only case.
    pub images: u32,
    /// Share of the rendered words the OCR read back, in [0, 1].
    pub word_accuracy: Option<f64>,
    /// Measured ink contrast of the image, in [0, 1].
    pub contrast: Option<f64>,
    /// Font size in px the text was drawn at.
    pub font_size: Option<f64>,
    /// How the text was laid out (`single image`, `paginated`, `clipped`, or
    /// the attack's own `layout` parameter).
    pub layout: Option<String>,
}

/// (attack, case id) → facts.
pub type FactsMap = BTreeMap<(String, String), CaseFacts>;

impl CaseFacts {
    /// Read the facts from a case's image count and provenance. The step that
    /// drew the image is the latest one carrying a `readability` record (a
    /// text converter chained after it leaves the image alone), else the last.
    pub fn from_provenance(images: u32, steps: &[ProvenanceStep]) -> CaseFacts {
        let mut facts = CaseFacts {
            images,
            ..CaseFacts::default()
        };
        if images == 0 {
            return facts;
        }
        let Some(step) = steps
            .iter()
            .rev()
            .find(|s| s.detail.get("readability").is_some())
            .or_else(|| steps.last())
        else {
            return facts;
        };
        let readability = step.detail.get("readability");
        let num = |key: &str| {
            readability
                .and_then(|r| r.get(key))
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite())
        };
        facts.word_accuracy = num("word_accuracy");
        facts.contrast = num("contrast");
        // The size actually drawn (after `overflow=shrink`) beats the one asked for.
        facts.font_size = step
            .detail
            .get("size")
            .and_then(|v| v.as_f64())
            .or_else(|| step.params.get("size").and_then(|s| s.parse().ok()))
            .filter(|v: &f64| v.is_finite());
        facts.layout = Some(layout(step));
        facts
    }
}

fn layout(step: &ProvenanceStep) -> String {
    if let Some(l) = step.params.get("layout") {
        return l.clone();
    }
    let pages = step
        .detail
        .get("pages")
        .and_then(|v| v.as_u64())
        .unwrap_or(1);
    let clipped = step
        .detail
        .get("clipped_lines")
        .and_then(|v| v.as_array())
        .is_some_and(|a| !a.is_empty());
    if pages > 1 {
        "paginated".to_string()
    } else if clipped {
        "clipped".to_string()
    } else {
        "single image".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(attack: &str, params: &[(&str, &str)], detail: serde_json::Value) -> ProvenanceStep {
        ProvenanceStep {
            attack: attack.into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            seed: 0,
            parent: "c".into(),
            detail,
        }
    }

    #[test]
    fn reads_the_image_step_even_under_a_later_text_step() {
        let steps = [
            step(
                "figstep",
                &[("size", "80"), ("overflow", "shrink")],
                json!({"size": 64.0, "pages": 1, "clipped_lines": [],
                       "readability": {"word_accuracy": 0.75, "contrast": 1.0}}),
            ),
            step("text:rot13", &[], json!({})),
        ];
        let f = CaseFacts::from_provenance(1, &steps);
        assert_eq!(f.word_accuracy, Some(0.75));
        assert_eq!(f.contrast, Some(1.0));
        assert_eq!(f.font_size, Some(64.0));
        assert_eq!(f.layout.as_deref(), Some("single image"));
    }

    #[test]
    fn params_and_layout_fallbacks() {
        let s = step(
            "mm-typo",
            &[("size", "90")],
            json!({"pages": 2, "clipped_lines": []}),
        );
        let f = CaseFacts::from_provenance(2, std::slice::from_ref(&s));
        assert_eq!(f.font_size, Some(90.0));
        assert_eq!(f.word_accuracy, None);
        assert_eq!(f.layout.as_deref(), Some("paginated"));
        let c = step("figstep", &[], json!({"clipped_lines": ["3. "]}));
        assert_eq!(
            CaseFacts::from_provenance(1, &[c]).layout.as_deref(),
            Some("clipped")
        );
        // A text-only case has no rendering facts at all.
        assert_eq!(CaseFacts::from_provenance(0, &[s]), CaseFacts::default());
    }
}
