//! OCR shared by every layer of one policy, with a small cache by image hash:
//! `ocr`, `classify:input` and `prompt:adaptive` all read the same images, and
//! OCR is the most expensive step of a request.
//!
//! In a proxy the cache must not be shared between clients: a hit answers
//! faster than a miss, so one client could learn whether another already sent
//! an image. [`scoped`] keys entries by the client a request runs for.

use mmsafe_core::{Image, Ocr, OcrLine};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    /// The client the current request runs for (set by `mmsafe serve`).
    static SCOPE: Arc<str>;
}

/// Run `f` with OCR cache entries private to `client`: a request in another
/// scope never hits them. Without a scope (`scan`, `guard check`) entries are
/// keyed by the image alone.
pub async fn scoped<F: Future>(client: Arc<str>, f: F) -> F::Output {
    SCOPE.scope(client, f).await
}

/// The cache key of `img` in the current scope. Layers read images inside
/// `blocking::run` (`block_in_place`), which stays on the task, so the scope
/// is visible there.
fn key(img: &Image) -> String {
    SCOPE
        .try_with(|s| format!("{s}\n{}", img.sha256()))
        .unwrap_or_else(|_| img.sha256().to_string())
}

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
        let key = key(img);
        if let Ok(c) = self.cache.lock() {
            if let Some(v) = c.0.get(&key) {
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
            if map.insert(key.clone(), lines.clone()).is_none() {
                order.push_back(key);
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
