//! Readability of an attack's image, recorded when the attack runs: how many
//! of the rendered words an OCR reads back, and how strongly the ink stands
//! out from the background. `mmsafe analyze` splits attack success by these
//! facts ("does the attack work because the model reads the text?").
//!
//! The attack itself stays a pure function of (case, parameters, seed): the
//! score is data about the image it produced, added to its provenance step
//! under `detail.readability`, and the OCR is deterministic, so the same
//! input still gives the same bytes.

use async_trait::async_trait;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, Image, Ocr, Role};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Lowercase alphanumeric words.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Share of the words of `rendered` found in `read`, each read word used at
/// most once (so "the the" read once counts one of two). `None` when
/// `rendered` has no words.
pub fn word_accuracy(rendered: &str, read: &str) -> Option<(f64, usize, usize)> {
    let want = words(rendered);
    if want.is_empty() {
        return None;
    }
    let mut have: BTreeMap<String, usize> = BTreeMap::new();
    for w in words(read) {
        *have.entry(w).or_default() += 1;
    }
    let mut matched = 0usize;
    for w in &want {
        if let Some(n) = have.get_mut(w).filter(|n| **n > 0) {
            *n -= 1;
            matched += 1;
        }
    }
    Some((matched as f64 / want.len() as f64, matched, want.len()))
}

/// Ink contrast in [0, 1]: the 99.9th percentile of each pixel's luminance
/// distance to the most common luminance (the background), over 255. Black
/// text on white reads 1.0; `inject:low-contrast` reads its small delta.
pub fn contrast(image: &Image) -> Option<f64> {
    let img = image::load_from_memory(image.bytes()).ok()?.to_luma8();
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[p[0] as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let bg = (0..256).max_by_key(|&i| (hist[i], std::cmp::Reverse(i)))? as i32;
    let mut dist = [0u64; 256];
    for (v, n) in hist.iter().enumerate() {
        dist[(v as i32 - bg).unsigned_abs() as usize] += n;
    }
    // Walk down from the largest distance until 0.1% of pixels are covered.
    let need = (total as f64 * 0.001).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for d in (0..256).rev() {
        seen += dist[d];
        if seen >= need {
            return Some(d as f64 / 255.0);
        }
    }
    Some(0.0)
}

/// The text an image step drew, from its provenance detail.
fn rendered_text(detail: &serde_json::Value) -> Option<String> {
    let pick = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    pick(detail.get("rendered_text"))
        .or_else(|| pick(detail.get("payload")))
        .or_else(|| pick(detail.get("extraction").and_then(|e| e.get("key_phrase"))))
        .or_else(|| pick(detail.get("keyword")))
}

/// Add `detail.readability` to the latest provenance step that says what it
/// rendered, measured on the images of the last user message. A case without
/// images or without a known rendered text is left as it is; an OCR failure
/// is recorded, not raised, since the attacked case itself is fine.
pub fn annotate(case: &mut Case, ocr: &dyn Ocr) {
    let images: Vec<Image> = case
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.images().cloned().collect())
        .unwrap_or_default();
    if images.is_empty() {
        return;
    }
    let Some(step) = case
        .provenance
        .iter_mut()
        .rev()
        .find(|s| rendered_text(&s.detail).is_some())
    else {
        return;
    };
    let Some(text) = rendered_text(&step.detail) else {
        return;
    };
    let mut read = Vec::new();
    let mut error = None;
    for img in &images {
        match ocr.read_text(img) {
            Ok(t) => read.push(t),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let contrasts: Vec<f64> = images.iter().filter_map(contrast).collect();
    let mut record = serde_json::json!({ "ocr": ocr.name() });
    if let Some(e) = error {
        record["error"] = e.into();
    } else if let Some((acc, matched, total)) = word_accuracy(&text, &read.join("\n")) {
        record["word_accuracy"] = ((acc * 10_000.0).round() / 10_000.0).into();
        record["words_matched"] = matched.into();
        record["words"] = total.into();
    }
    if !contrasts.is_empty() {
        // The faintest page decides whether all of the text can be read.
        let c = contrasts.iter().copied().fold(f64::INFINITY, f64::min);
        record["contrast"] = ((c * 1000.0).round() / 1000.0).into();
    }
    if !step.detail.is_object() {
        step.detail = serde_json::json!({});
    }
    step.detail["readability"] = record;
}

/// An attack whose image outputs get a readability record.
struct Readable {
    inner: DynAttack,
    ocr: Arc<dyn Ocr>,
}

/// Wrap `inner` so every case it produces is annotated with `ocr`.
pub fn with_ocr(inner: DynAttack, ocr: Arc<dyn Ocr>) -> DynAttack {
    Arc::new(Readable { inner, ocr })
}

#[async_trait]
impl Attack for Readable {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn cases_per_input(&self) -> Option<usize> {
        self.inner.cases_per_input()
    }

    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let mut out = self.inner.apply(case, seed).await?;
        for c in &mut out {
            annotate(c, self.ocr.as_ref());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_accuracy_by_hand() {
        // 4 rendered words; "bread" read, "sourdough" misread, "to" read once of once.
        let (acc, m, n) = word_accuracy("Steps to bake bread.", "steps t0 bake\nbread").unwrap();
        assert_eq!((m, n), (3, 4));
        assert_eq!(acc, 0.75);
        // A repeated word must be read as often as it was rendered.
        assert_eq!(
            word_accuracy("the the cat", "the cat").unwrap().0,
            2.0 / 3.0
        );
        assert_eq!(word_accuracy("...", "anything"), None);
    }

    #[test]
    fn contrast_of_black_on_white_and_of_a_faint_mark() {
        let mut img = image::GrayImage::from_pixel(40, 40, image::Luma([255]));
        for x in 0..40 {
            img.put_pixel(x, 20, image::Luma([0]));
        }
        let png = mmsafe_typography::png::encode_gray(&img).unwrap();
        assert_eq!(contrast(&Image::png(png)), Some(1.0));
        let mut faint = image::GrayImage::from_pixel(40, 40, image::Luma([200]));
        for x in 0..40 {
            faint.put_pixel(x, 3, image::Luma([149]));
        }
        let png = mmsafe_typography::png::encode_gray(&faint).unwrap();
        assert_eq!(contrast(&Image::png(png)), Some(51.0 / 255.0));
    }
}
