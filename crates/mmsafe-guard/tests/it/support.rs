//! Test doubles: a recording echo target, a scripted OCR, and a
//! bag-of-words embedder. They stand in for the real models, which live in
//! mmsafe-local and are exercised in the CLI's tests.

use async_trait::async_trait;
use mmsafe_core::{
    EmbedError, Embedder, Image, Ocr, OcrError, OcrLine, Request, Response, Target, TargetError,
    TargetInfo, Usage,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Answers with a function of the request and records every request.
pub struct Recorder {
    info: TargetInfo,
    pub seen: Mutex<Vec<Request>>,
    pub calls: AtomicUsize,
    answer: Box<dyn Fn(&Request) -> String + Send + Sync>,
}

impl Recorder {
    pub fn new(answer: impl Fn(&Request) -> String + Send + Sync + 'static) -> Arc<Recorder> {
        Arc::new(Recorder {
            info: TargetInfo {
                spec: "test:recorder".into(),
                model: "recorder".into(),
                accepts_images: true,
            },
            seen: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            answer: Box::new(answer),
        })
    }
    pub fn echo() -> Arc<Recorder> {
        Recorder::new(|r| r.prompt_text())
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn last(&self) -> Request {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request seen")
    }
}

#[async_trait]
impl Target for Recorder {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = (self.answer)(&req);
        self.seen.lock().unwrap().push(req);
        let mut r = Response::text(text);
        r.usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
        };
        Ok(r)
    }
}

/// OCR that returns fixed lines per image hash (no lines for unknown images).
#[derive(Default)]
pub struct ScriptedOcr {
    pub lines: HashMap<String, Vec<OcrLine>>,
    pub fail: bool,
}

impl Ocr for ScriptedOcr {
    fn name(&self) -> &str {
        "scripted"
    }
    fn read(&self, image: &Image) -> Result<Vec<OcrLine>, OcrError> {
        if self.fail {
            return Err(OcrError("model file missing".into()));
        }
        Ok(self.lines.get(image.sha256()).cloned().unwrap_or_default())
    }
}

pub fn line(text: &str, y: u32) -> OcrLine {
    OcrLine {
        text: text.into(),
        confidence: 0.95,
        bbox: [10, y, 200, 30],
    }
}

/// Hashing bag-of-words embedder: texts sharing words are similar.
pub struct BowEmbedder;

impl Embedder for BowEmbedder {
    fn name(&self) -> &str {
        "bow"
    }
    fn dim(&self) -> usize {
        256
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 256];
                for w in t.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                    if w.len() < 3 {
                        continue;
                    }
                    let h = w
                        .bytes()
                        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
                    v[(h % 256) as usize] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 {
                    v.iter_mut().for_each(|x| *x /= n);
                }
                v
            })
            .collect())
    }
}

/// A PNG of the given size with a smooth gradient (a stand-in photo).
pub fn photo(w: u32, h: u32) -> Image {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    });
    let mut buf = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    Image::png(buf)
}

/// Resolver over the doubles.
pub struct TestResolver {
    pub ocr: Arc<ScriptedOcr>,
}

impl mmsafe_guard::Resolver for TestResolver {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        Ok(self.ocr.clone())
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        Ok(Arc::new(BowEmbedder))
    }
    fn target(&self, spec: &str) -> Result<mmsafe_core::DynTarget, String> {
        Err(format!("no targets in tests (`{spec}`)"))
    }
    fn judge(&self, spec: &str) -> Result<mmsafe_core::DynJudge, String> {
        Err(format!("no judges in tests (`{spec}`)"))
    }
    fn harm_scorer(&self, _: Option<&str>) -> Result<Arc<dyn mmsafe_core::PairScorer>, String> {
        Ok(Arc::new(KeywordScorer))
    }
}

/// Harm scorer double for policy plumbing: 0.9 when the text says "bomb".
/// (The real model is exercised in `real_models.rs` and the CLI tests.)
pub struct KeywordScorer;

impl mmsafe_core::PairScorer for KeywordScorer {
    fn name(&self) -> &str {
        "keyword"
    }
    fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, mmsafe_core::EmbedError> {
        Ok(pairs
            .iter()
            .map(|(_, t)| {
                if t.to_lowercase().contains("bomb") {
                    0.9
                } else {
                    0.1
                }
            })
            .collect())
    }
}
