//! `harm` — the request-harm classifier: a MiniLM cross-encoder fine-tuned
//! end to end by `mmsafe guard train` (single-text input) that reads the
//! whole request: every message with its role, every text part, and the OCR
//! text of all images joined (a request split over two images is one
//! request). Long requests are read in overlapping windows and scored by the
//! most harmful one, so nothing is silently cut off.
//!
//! The scorer arrives as a `PairScorer` (`("", window)` pairs) through the
//! `Resolver`, so this crate still links no inference runtime.

use crate::classify::{Classification, Classifier, ClassifyInput, Subject};
use crate::error::GuardError;
use async_trait::async_trait;
use mmsafe_core::{PairScorer, Request, Role, Usage};
use std::sync::Arc;

/// Words per window. Fine-tuning reads sequences of at most 96 tokens, and
/// 48 English words are about 60–70 word pieces, so a window is read whole.
pub const WINDOW_WORDS: usize = 48;
/// Words between window starts: each word is in two windows, so a harmful
/// sentence split by one window boundary is whole in the next.
pub const STRIDE_WORDS: usize = 24;
/// A "word" longer than this (a URL, base64) is cut into pieces, so one word
/// cannot push a window past what the model reads.
pub const MAX_WORD_CHARS: usize = 32;

/// The shipped model (top layers and head, f16), written by the command in
/// docs/guard.md; the frozen layers come from the cached all-MiniLM-L6-v2.
pub static SHIPPED: &[u8] = include_bytes!("../assets/harm.safetensors");
pub const SHIPPED_NAME: &str = "mmsafe-guard assets/harm.safetensors (shipped)";

/// Default decision threshold on the harm probability.
pub const THRESHOLD: f64 = 0.5;

/// The text the classifier reads for a request: each message's text on its
/// own line, prefixed by its role when it is not the user's, then the image
/// text. Training composes its examples with this same function, so what is
/// trained is what is read.
pub fn request_text(req: &Request, image_text: &str) -> String {
    let mut out = String::new();
    for m in &req.messages {
        let t = m.text();
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        match m.role {
            Role::User => {}
            Role::System => out.push_str("[system] "),
            Role::Assistant => out.push_str("[assistant] "),
        }
        out.push_str(t);
    }
    let image_text = image_text.trim();
    if !image_text.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("[image] ");
        out.push_str(image_text);
    }
    out
}

/// A user text plus image text, composed as [`request_text`] would.
pub fn compose(user: &str, image_text: &str) -> String {
    request_text(
        &Request::new(vec![mmsafe_core::Message::user_text(user)]),
        image_text,
    )
}

/// Overlapping windows of [`WINDOW_WORDS`] words covering every word of
/// `text` (one window when it is short; none when it is empty).
pub fn windows(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let chars: Vec<char> = w.chars().collect();
        for piece in chars.chunks(MAX_WORD_CHARS) {
            words.push(piece.iter().collect());
        }
    }
    if words.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + WINDOW_WORDS).min(words.len());
        out.push(words[start..end].join(" "));
        if end == words.len() {
            break;
        }
        start += STRIDE_WORDS;
    }
    out
}

pub struct HarmClassifier {
    name: String,
    scorer: Arc<dyn PairScorer>,
    threshold: f64,
}

impl HarmClassifier {
    pub fn new(scorer: Arc<dyn PairScorer>, threshold: f64) -> HarmClassifier {
        HarmClassifier {
            name: format!("harm:{}", scorer.name()),
            scorer,
            threshold,
        }
    }

    /// The highest window probability of `text` and that window's index
    /// (0 and `None` for empty text). Blocking.
    pub fn score_text(&self, text: &str) -> Result<(f64, Option<usize>, usize), GuardError> {
        let wins = windows(text);
        if wins.is_empty() {
            return Ok((0.0, None, 0));
        }
        let pairs: Vec<(&str, &str)> = wins.iter().map(|w| ("", w.as_str())).collect();
        let scores = self
            .scorer
            .score(&pairs)
            .map_err(|e| GuardError::new(&self.name, e.to_string()))?;
        if scores.len() != pairs.len() {
            return Err(GuardError::new(
                &self.name,
                format!(
                    "scorer returned {} scores for {} windows",
                    scores.len(),
                    pairs.len()
                ),
            ));
        }
        let (best, p) =
            scores
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |a, (i, &p)| if p > a.1 { (i, p) } else { a });
        Ok((f64::from(p.clamp(0.0, 1.0)), Some(best), wins.len()))
    }
}

#[async_trait]
impl Classifier for HarmClassifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn warm_up(&self) -> Result<(), GuardError> {
        self.score_text("hello").map(|_| ())
    }
    async fn classify(&self, input: ClassifyInput<'_>) -> Result<Classification, GuardError> {
        let text = match input.subject {
            Subject::Prompt => request_text(input.request, input.extra_text),
            Subject::Response => input.response.unwrap_or_default().to_string(),
        };
        let (score, best, n) = crate::blocking::run(|| self.score_text(&text)).await?;
        let unsafe_content = score >= self.threshold;
        let at = match best {
            Some(i) if n > 1 => format!(" (window {} of {n})", i + 1),
            _ => String::new(),
        };
        Ok(Classification {
            unsafe_content,
            score: Some(score),
            categories: Vec::new(),
            rationale: format!(
                "harm probability {score:.3}{at}, threshold {}",
                self.threshold
            ),
            calls: 0,
            usage: Usage::default(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mmsafe_core::{EmbedError, Message, Part};

    #[test]
    fn the_whole_request_is_read_with_roles_and_image_text() {
        let req = Request::new(vec![
            Message::system("be terse"),
            Message::user(vec![Part::text("first"), Part::text("second")]),
            Message::assistant("Sure, step 1:"),
        ]);
        let t = request_text(&req, "Steps to fold a crane.\n1.\n2.");
        assert!(t.starts_with("[system] be terse\n"), "{t}");
        assert!(t.contains("first") && t.contains("second"), "{t}");
        assert!(t.contains("\n[assistant] Sure, step 1:\n"), "{t}");
        assert!(t.ends_with("[image] Steps to fold a crane.\n1.\n2."), "{t}");
    }

    #[test]
    fn windows_cover_every_word_with_overlap() {
        assert!(windows("  ").is_empty());
        assert_eq!(windows("a b c"), vec!["a b c".to_string()]);
        let text: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let w = windows(&text.join(" "));
        // 0..48, 24..72, 48..96, 72..100
        assert_eq!(w.len(), 4);
        for word in &text {
            assert!(w.iter().any(|x| x.split(' ').any(|y| y == word)), "{word}");
        }
        let long = "x".repeat(100);
        let w = windows(&long);
        assert_eq!(w[0].split(' ').count(), 4, "a long word is cut into pieces");
    }

    /// Scores a window by whether it mentions "bad".
    pub(crate) struct Bad;
    impl PairScorer for Bad {
        fn name(&self) -> &str {
            "bad"
        }
        fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, EmbedError> {
            Ok(pairs
                .iter()
                .map(|(_, t)| if t.contains("bad") { 0.9 } else { 0.1 })
                .collect())
        }
    }

    #[tokio::test]
    async fn a_harmful_window_anywhere_decides() {
        let c = HarmClassifier::new(Arc::new(Bad), 0.5);
        let mut text = vec!["fine"; 200];
        text[150] = "bad";
        let req = Request::new(vec![
            Message::system(text.join(" ")),
            Message::user_text("hello"),
        ]);
        let r = c
            .classify(ClassifyInput {
                subject: Subject::Prompt,
                request: &req,
                extra_text: "",
                response: None,
            })
            .await
            .unwrap();
        assert!(r.unsafe_content, "{}", r.rationale);
        assert!(r.rationale.contains("of 8"), "{}", r.rationale);
        let req = Request::new(vec![Message::user_text("hello")]);
        let r = c
            .classify(ClassifyInput {
                subject: Subject::Prompt,
                request: &req,
                extra_text: "and a bad image",
                response: None,
            })
            .await
            .unwrap();
        assert!(r.unsafe_content, "image text is read");
    }
}
