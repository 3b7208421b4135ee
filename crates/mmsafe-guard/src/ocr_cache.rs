//! OCR shared by every layer of one policy, with a small cache by image hash:
//! `ocr`, `classify:input` and `prompt:adaptive` all read the same images, and
//! OCR is the most expensive step of a request.

use mmsafe_core::{Image, Ocr, OcrLine};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Default number of images whose OCR lines are kept.
pub const DEFAULT_CAPACITY: usize = 256;

/// Lines by image hash, and hashes in insertion order for eviction.
type Cache = (HashMap<String, Arc<Vec<OcrLine>>>, VecDeque<String>);

pub struct SharedOcr {
    /// `Err` when the model could not be loaded: layers that only use OCR for
    /// image requests still serve text-only requests, and fail on images
    /// with this message (which names the `mmsafe models pull` to run).
    ocr: Result<Arc<dyn Ocr>, String>,
    capacity: usize,
    cache: Mutex<Cache>,
}

impl SharedOcr {
    pub fn new(ocr: Arc<dyn Ocr>) -> SharedOcr {
        SharedOcr::with_capacity(ocr, DEFAULT_CAPACITY)
    }

    /// `capacity` 0 turns caching off (benchmarks, memory-tight deployments).
    pub fn with_capacity(ocr: Arc<dyn Ocr>, capacity: usize) -> SharedOcr {
        SharedOcr {
            ocr: Ok(ocr),
            capacity,
            cache: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// An engine whose model is missing: every `read` fails with `error`.
    pub fn unavailable(error: impl Into<String>) -> SharedOcr {
        SharedOcr {
            ocr: Err(error.into()),
            capacity: 0,
            cache: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub fn name(&self) -> &str {
        match &self.ocr {
            Ok(o) => o.name(),
            Err(_) => "unavailable",
        }
    }

    /// Lines of one image (cached).
    pub fn read(&self, img: &Image) -> Result<Arc<Vec<OcrLine>>, String> {
        if let Ok(c) = self.cache.lock() {
            if let Some(v) = c.0.get(img.sha256()) {
                return Ok(v.clone());
            }
        }
        let ocr = self.ocr.as_ref().map_err(|e| format!("OCR: {e}"))?;
        let lines = Arc::new(ocr.read(img).map_err(|e| e.to_string())?);
        if self.capacity == 0 {
            return Ok(lines);
        }
        if let Ok(mut c) = self.cache.lock() {
            let (map, order) = &mut *c;
            if map
                .insert(img.sha256().to_string(), lines.clone())
                .is_none()
            {
                order.push_back(img.sha256().to_string());
                while order.len() > self.capacity {
                    if let Some(old) = order.pop_front() {
                        map.remove(&old);
                    }
                }
            }
        }
        Ok(lines)
    }

    /// Text of all images of a request, lines above `min_confidence`, images
    /// separated by blank lines.
    pub fn request_text<'a>(
        &self,
        images: impl Iterator<Item = &'a Image>,
        min_confidence: f32,
    ) -> Result<String, String> {
        let mut out = String::new();
        for img in images {
            let lines = self.read(img)?;
            for l in lines.iter().filter(|l| l.confidence >= min_confidence) {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&l.text);
            }
        }
        Ok(out)
    }
}
