//! `Ocr`: read the text in an image. Implemented by mmsafe-local; used by the
//! local pipeline target, the `ocr` guard layer and tests.

use crate::case::Image;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrLine {
    pub text: String,
    /// Mean character confidence in [0, 1].
    pub confidence: f32,
    /// Axis-aligned box in image pixels: x, y, width, height.
    pub bbox: [u32; 4],
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("ocr: {0}")]
pub struct OcrError(pub String);

pub trait Ocr: Send + Sync {
    fn name(&self) -> &str;
    /// Lines in reading order (top to bottom, left to right).
    fn read(&self, image: &Image) -> Result<Vec<OcrLine>, OcrError>;
    /// All lines joined with newlines.
    fn read_text(&self, image: &Image) -> Result<String, OcrError> {
        Ok(self
            .read(image)?
            .into_iter()
            .map(|l| l.text)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}
