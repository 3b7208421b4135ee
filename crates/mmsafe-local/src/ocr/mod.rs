//! OCR with PaddleOCR PP-OCRv5 mobile (detection + recognition ONNX) on rten.
//!
//! Pipeline: DB text detection on a downscaled copy (BGR, ImageNet
//! normalization) → boxes merged per line → crops resized to height 48 and
//! recognised in width-sorted batches → CTC greedy decoding over the v5
//! dictionary. Detection dominates the cost, so it first runs at a low
//! resolution and only re-runs at full resolution when the text it found is
//! small.

pub mod boxes;
pub mod robust;

use crate::error::LocalError;
use crate::threads::Compute;
use boxes::{DbParams, TextBox};
use image::{imageops, ImageBuffer, Pixel, RgbImage};
use mmsafe_core::{Image, Ocr, OcrError, OcrLine};
use rten::{Model, RunOptions};
use rten_tensor::prelude::*;
use rten_tensor::NdTensor;
use std::path::Path;
use std::sync::Arc;

/// Tunables of the pipeline; the defaults are what `mmsafe bench local` measures.
#[derive(Debug, Clone)]
pub struct OcrParams {
    /// Longest side of the first, fast detection pass (multiple of 32).
    pub det_fast_side: u32,
    /// Longest side of the full detection pass (multiple of 32).
    pub det_full_side: u32,
    /// Re-run detection at full size when the median text height found in the
    /// fast pass is below this many pixels of the detection map.
    pub min_text_px: f32,
    /// Feed detection a grayscale copy (replicated to 3 channels): more robust
    /// on coloured or noisy backgrounds.
    pub det_gray: bool,
    /// Most crops per recognition batch.
    pub rec_batch: usize,
    /// A batch grows while padding stays below this fraction of its pixels.
    pub rec_max_padding: f32,
    /// Lines with a lower mean character confidence are dropped.
    pub min_confidence: f32,
    pub db: DbParams,
    /// Read what attackers render (`robust`): stretch low contrast, upscale
    /// small images, and when the first pass reads text poorly, deskew and
    /// try a half turn. Off = the plain pipeline.
    pub robust: bool,
    /// Images with a shorter longest side are upscaled to it (robust only).
    pub upscale_below: u32,
    /// A first pass whose mean character confidence is below this (or whose
    /// lines are mostly vertical, or that read nothing from the text it
    /// detected) is retried turned (robust only).
    pub retry_below_confidence: f32,
}

impl Default for OcrParams {
    fn default() -> Self {
        OcrParams {
            det_fast_side: 480,
            det_full_side: 960,
            min_text_px: 14.0,
            det_gray: true,
            rec_batch: 8,
            rec_max_padding: 0.25,
            min_confidence: 0.5,
            db: DbParams::default(),
            robust: true,
            upscale_below: 480,
            retry_below_confidence: 0.85,
        }
    }
}

const REC_HEIGHT: u32 = 48;
const DET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const DET_STD: [f32; 3] = [0.229, 0.224, 0.225];

pub struct PaddleOcr {
    det: Model,
    rec: Model,
    /// Class index → text; index 0 is the CTC blank.
    chars: Vec<String>,
    params: OcrParams,
    pool: Arc<rten::ThreadPool>,
    compute: Compute,
}

fn load_model(path: &Path) -> Result<Model, LocalError> {
    // Prepacking the weights once at load saves ~10 ms of matmul input
    // transformation on every recognition call.
    let mut opts = rten::ModelOptions::with_all_ops();
    opts.prepack_weights(true);
    opts.load_file(path)
        .map_err(|e| LocalError::model(path.display().to_string(), e))
}

impl PaddleOcr {
    /// Load from a folder with `ppocrv5_det.onnx`, `ppocrv5_rec.onnx`, `ppocr_keys_v5.txt`.
    pub fn load(dir: &Path, compute: Compute) -> Result<PaddleOcr, LocalError> {
        use crate::models::catalog::{PPOCR_DET, PPOCR_KEYS, PPOCR_REC};
        let det = load_model(&dir.join(PPOCR_DET))?;
        let rec = load_model(&dir.join(PPOCR_REC))?;
        let keys_path = dir.join(PPOCR_KEYS);
        let keys =
            std::fs::read_to_string(&keys_path).map_err(|e| LocalError::io(&keys_path, e))?;
        // The v5 keys file is already index-aligned: line 0 = blank, last = " ".
        let chars: Vec<String> = keys
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        let chars = match chars.last() {
            Some(l) if l.is_empty() => {
                let mut c = chars;
                c.pop();
                c
            }
            _ => chars,
        };
        let pool = Arc::new(rten::ThreadPool::with_num_threads(compute.threads()));
        Ok(PaddleOcr {
            det,
            rec,
            chars,
            params: OcrParams::default(),
            pool,
            compute,
        })
    }

    pub fn with_params(mut self, params: OcrParams) -> PaddleOcr {
        self.params = params;
        self
    }

    pub fn params(&self) -> &OcrParams {
        &self.params
    }

    fn opts(&self) -> Option<RunOptions> {
        Some(RunOptions::default().with_thread_pool(Some(self.pool.clone())))
    }

    /// Read lines from a decoded RGB image (with `robust`, also faint,
    /// small and rotated text); boxes are in `img`'s pixels.
    pub fn read_rgb(&self, img: &RgbImage) -> Result<Vec<OcrLine>, String> {
        if !self.params.robust {
            return self.read_once(img).map(|r| r.lines);
        }
        let stretched = robust::stretch_contrast(img);
        let img1 = stretched.as_ref().unwrap_or(img);
        let up = robust::upscale_small(img1, self.params.upscale_below);
        let base = up.as_ref().unwrap_or(img1);
        let factor = base.width() as f32 / img.width().max(1) as f32;
        let first = self.read_once(base)?;
        let conf = self.params.retry_below_confidence;
        // Detected text that came back unread (upside-down lines fall below
        // the confidence floor while their "1 -" markers read surely) is a
        // poor read, whatever the confidence of what was kept.
        let unread = first.read_area() < 0.6 * first.detected_area;
        let poor = first.boxes > 0 && (unread || !robust::reads_well(&first.lines, conf));
        let mut best = (robust::quality(&first.lines), first.lines, 0.0f32);
        let skew = robust::estimate_skew(base);
        // Text turned by a small angle is often not detected at all, or only
        // its short lines are ("1 -", "2 -"), which read surely: a clearly
        // slanted ink profile earns a deskewed pass whatever the first read.
        let slanted = skew.is_some_and(|t| (5.0..=85.0).contains(&t.abs()));
        if slanted || poor {
            let tilt = skew.unwrap_or(0.0);
            let mut turns = Vec::new();
            if tilt.abs() > 3.0 {
                turns.extend([-tilt, 180.0 - tilt]);
            } else {
                turns.push(180.0);
            }
            for deg in turns {
                let turned = robust::rotate(base, deg);
                let l = self.read_once(&turned)?.lines;
                let q = robust::quality(&l);
                if q > best.0 * 1.1 {
                    best = (q, l, deg);
                }
                if robust::reads_well(&best.1, conf) {
                    break;
                }
            }
        }
        let (_, mut lines, deg) = best;
        let (bw, bh) = base.dimensions();
        for l in &mut lines {
            let b = if deg == 0.0 {
                l.bbox
            } else {
                robust::unrotate_box(l.bbox, deg, bw, bh)
            };
            l.bbox = if factor == 1.0 {
                b
            } else {
                b.map(|v| (v as f32 / factor).round() as u32)
            };
        }
        Ok(lines)
    }

    /// One pass: detected boxes and the lines read from them.
    fn read_once(&self, img: &RgbImage) -> Result<Pass, String> {
        let found = self.detect_lines(img)?;
        Ok(Pass {
            boxes: found.len(),
            detected_area: found.iter().map(|b| b.w() * b.h()).sum(),
            lines: self.recognize(img, &found)?,
        })
    }

    /// Text-line boxes in reading order (detection only), in image pixels.
    pub fn detect_lines(&self, img: &RgbImage) -> Result<Vec<TextBox>, String> {
        let (w, h) = img.dimensions();
        if w < 4 || h < 4 {
            return Ok(Vec::new());
        }
        // A grayscale copy is resized as one channel and fed to the
        // detector as three equal ones.
        let gray = self.params.det_gray.then(|| imageops::grayscale(img));
        let detect = |side: u32| match &gray {
            Some(g) => self.detect(g, side),
            None => self.detect(img, side),
        };
        let fast = self.params.det_fast_side.min(self.params.det_full_side);
        let (mut found, scale) = detect(fast)?;
        let heights: Vec<f32> = found.iter().map(|b| b.h() / scale).collect();
        let small = median(&heights).is_some_and(|m| m < self.params.min_text_px);
        let full_needed =
            fast < self.params.det_full_side && w.max(h) > fast && (found.is_empty() || small);
        if full_needed {
            found = detect(self.params.det_full_side)?.0;
        }
        Ok(boxes::merge_lines(found))
    }

    /// Detection at longest side ≤ `side`; boxes in original-image pixels and
    /// the scale factor original→map.
    fn detect<P>(
        &self,
        img: &ImageBuffer<P, Vec<u8>>,
        side: u32,
    ) -> Result<(Vec<TextBox>, f32), String>
    where
        P: Pixel<Subpixel = u8> + 'static,
    {
        let (w, h) = img.dimensions();
        let scale = (side as f32 / w.max(h) as f32).min(1.0);
        let round32 = |v: f32| (((v / 32.0).round() as u32).max(1) * 32).max(32);
        let (dw, dh) = (round32(w as f32 * scale), round32(h as f32 * scale));
        let resized = imageops::resize(img, dw, dh, imageops::FilterType::Triangle);
        let plane = (dw * dh) as usize;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in resized.pixels().enumerate() {
            let p = p.to_rgb();
            // BGR order, as PaddleOCR's cv2 pipeline.
            for (c, v) in [p.0[2], p.0[1], p.0[0]].into_iter().enumerate() {
                data[c * plane + i] = (v as f32 / 255.0 - DET_MEAN[c]) / DET_STD[c];
            }
        }
        let input = NdTensor::from_data([1, 3, dh as usize, dw as usize], data);
        let out = self
            .det
            .run_one(input.into(), self.opts())
            .map_err(|e| format!("detection: {e}"))?;
        let prob: NdTensor<f32, 4> = out
            .try_into()
            .map_err(|e| format!("detection output: {e:?}"))?;
        let [_, _, ph, pw] = prob.shape();
        let map = prob.to_vec();
        let found = boxes::db_boxes(&map, pw, ph, &self.params.db);
        let (sx, sy) = (w as f32 / pw as f32, h as f32 / ph as f32);
        let boxes = found
            .into_iter()
            .map(|b| TextBox {
                x0: b.x0 * sx,
                y0: b.y0 * sy,
                x1: (b.x1 * sx).min(w as f32),
                y1: (b.y1 * sy).min(h as f32),
                score: b.score,
            })
            .collect();
        Ok((boxes, ph as f32 / h as f32))
    }

    fn recognize(&self, img: &RgbImage, lines: &[TextBox]) -> Result<Vec<OcrLine>, String> {
        let (w, h) = img.dimensions();
        let mut crops: Vec<(usize, RgbImage, [u32; 4])> = Vec::new();
        for (i, b) in lines.iter().enumerate() {
            let x0 = (b.x0.floor().max(0.0) as u32).min(w - 1);
            let y0 = (b.y0.floor().max(0.0) as u32).min(h - 1);
            let x1 = (b.x1.ceil() as u32).clamp(x0 + 1, w);
            let y1 = (b.y1.ceil() as u32).clamp(y0 + 1, h);
            let mut crop = imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
            if crop.height() as f32 >= 1.5 * crop.width() as f32 {
                crop = imageops::rotate270(&crop);
            }
            let rw = ((REC_HEIGHT as f32 * crop.width() as f32 / crop.height() as f32).ceil()
                as u32)
                .clamp(8, 3200);
            let crop = imageops::resize(&crop, rw, REC_HEIGHT, imageops::FilterType::Triangle);
            crops.push((i, crop, [x0, y0, x1 - x0, y1 - y0]));
        }
        // Similar widths share a batch, so little is padding.
        crops.sort_by_key(|c| c.1.width());
        let mut results: Vec<(usize, OcrLine)> = Vec::new();
        for batch in self.batches(&crops) {
            let bw = batch.iter().map(|c| c.1.width()).max().unwrap_or(8) as usize;
            let hh = REC_HEIGHT as usize;
            let plane = hh * bw;
            let mut data = vec![0f32; batch.len() * 3 * plane];
            for (n, (_, crop, _)) in batch.iter().enumerate() {
                let cw = crop.width() as usize;
                for (x, y, p) in crop.enumerate_pixels() {
                    let at = y as usize * bw + x as usize;
                    if (x as usize) < cw {
                        for (c, v) in [p.0[2], p.0[1], p.0[0]].into_iter().enumerate() {
                            data[(n * 3 + c) * plane + at] = (v as f32 / 255.0 - 0.5) / 0.5;
                        }
                    }
                }
            }
            let input = NdTensor::from_data([batch.len(), 3, hh, bw], data);
            let out = self
                .rec
                .run_one(input.into(), self.opts())
                .map_err(|e| format!("recognition: {e}"))?;
            let probs: NdTensor<f32, 3> = out
                .try_into()
                .map_err(|e| format!("recognition output: {e:?}"))?;
            let [_, steps, classes] = probs.shape();
            let flat = probs.to_vec();
            for (n, (idx, _, bbox)) in batch.iter().enumerate() {
                let seq = &flat[n * steps * classes..(n + 1) * steps * classes];
                let (text, conf) = self.ctc_decode(seq, steps, classes);
                let text = text.trim().to_string();
                if text.is_empty() || conf < self.params.min_confidence {
                    continue;
                }
                results.push((
                    *idx,
                    OcrLine {
                        text,
                        confidence: conf,
                        bbox: *bbox,
                    },
                ));
            }
        }
        results.sort_by_key(|r| r.0);
        Ok(results.into_iter().map(|r| r.1).collect())
    }

    /// Split width-sorted crops into batches whose zero padding stays small:
    /// one forward pass per batch costs about as much as per crop, padding aside.
    fn batches<'a, T>(&self, crops: &'a [(usize, RgbImage, T)]) -> Vec<&'a [(usize, RgbImage, T)]> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < crops.len() {
            let mut end = start + 1;
            let mut sum = crops[start].1.width() as f32;
            while end < crops.len() && end - start < self.params.rec_batch.max(1) {
                let w = crops[end].1.width() as f32;
                let n = (end - start + 1) as f32;
                if 1.0 - (sum + w) / (w * n) > self.params.rec_max_padding {
                    break;
                }
                sum += w;
                end += 1;
            }
            out.push(&crops[start..end]);
            start = end;
        }
        out
    }

    fn ctc_decode(&self, seq: &[f32], steps: usize, classes: usize) -> (String, f32) {
        // Keys with blank at 0 and " " last match the class count; older
        // layouts lack both.
        let offset = if classes == self.chars.len() + 2 {
            1
        } else {
            0
        };
        let mut text = String::new();
        let mut confs = Vec::new();
        let mut prev = 0usize;
        for t in 0..steps {
            let row = &seq[t * classes..(t + 1) * classes];
            let (best, p) = row
                .iter()
                .enumerate()
                .fold(
                    (0usize, f32::MIN),
                    |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                );
            if best != 0 && best != prev {
                let ch = if offset == 1 {
                    if best == classes - 1 {
                        Some(" ")
                    } else {
                        self.chars.get(best - 1).map(String::as_str)
                    }
                } else {
                    self.chars.get(best).map(String::as_str)
                };
                if let Some(ch) = ch {
                    text.push_str(ch);
                    confs.push(p);
                }
            }
            prev = best;
        }
        let conf = if confs.is_empty() {
            0.0
        } else {
            confs.iter().sum::<f32>() / confs.len() as f32
        };
        (text, conf)
    }
}

/// What one detection + recognition pass found.
struct Pass {
    boxes: usize,
    /// Pixels inside the detected line boxes.
    detected_area: f32,
    /// The lines read surely enough to keep.
    lines: Vec<OcrLine>,
}

impl Pass {
    /// Pixels inside the boxes of the kept lines.
    fn read_area(&self) -> f32 {
        self.lines
            .iter()
            .map(|l| l.bbox[2] as f32 * l.bbox[3] as f32)
            .sum()
    }
}

fn median(v: &[f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(s[s.len() / 2])
}

/// Decode an encoded image to RGB.
pub fn decode_rgb(image: &Image) -> Result<RgbImage, String> {
    image::load_from_memory(image.bytes())
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("image {} ({}): {e}", image.sha256(), image.media_type()))
}

impl Ocr for PaddleOcr {
    fn name(&self) -> &str {
        "ppocr-v5-mobile"
    }

    fn read(&self, image: &Image) -> Result<Vec<OcrLine>, OcrError> {
        let rgb = decode_rgb(image).map_err(OcrError)?;
        self.compute.run(|| self.read_rgb(&rgb)).map_err(OcrError)
    }
}
