//! Between encoded images, 8-bit RGB buffers and `(1, 3, H, W)` tensors in [0, 1].

use crate::error::{AdvError, Result};
use candle_core::{Device, Tensor};

/// An RGB image as interleaved bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    pub w: usize,
    pub h: usize,
    pub data: Vec<u8>,
}

impl Rgb8 {
    /// Decode PNG/JPEG bytes; `label` names the source in errors.
    pub fn decode(bytes: &[u8], label: &str) -> Result<Rgb8> {
        let img = image::load_from_memory(bytes).map_err(|e| AdvError::Image {
            path: label.to_string(),
            message: format!("cannot be decoded: {e}"),
        })?;
        let rgb = img.to_rgb8();
        Ok(Rgb8 {
            w: rgb.width() as usize,
            h: rgb.height() as usize,
            data: rgb.into_raw(),
        })
    }

    pub fn read(path: &std::path::Path) -> Result<Rgb8> {
        let bytes = std::fs::read(path).map_err(|source| AdvError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Rgb8::decode(&bytes, &path.display().to_string())
    }

    /// Resize (Lanczos3) so neither side exceeds `max_side`; no-op when smaller.
    pub fn fit(self, max_side: usize) -> Rgb8 {
        if self.w.max(self.h) <= max_side || max_side == 0 {
            return self;
        }
        let scale = max_side as f64 / self.w.max(self.h) as f64;
        let (nw, nh) = (
            ((self.w as f64 * scale).round() as u32).max(1),
            ((self.h as f64 * scale).round() as u32).max(1),
        );
        let Some(buf) = image::RgbImage::from_raw(self.w as u32, self.h as u32, self.data) else {
            unreachable!("buffer size matches dimensions by construction")
        };
        let out = image::imageops::resize(&buf, nw, nh, image::imageops::FilterType::Lanczos3);
        Rgb8 {
            w: nw as usize,
            h: nh as usize,
            data: out.into_raw(),
        }
    }

    pub fn to_tensor(&self, device: &Device) -> candle_core::Result<Tensor> {
        let v: Vec<f32> = self.data.iter().map(|&b| b as f32 / 255.0).collect();
        Tensor::from_vec(v, (self.h, self.w, 3), device)?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()
    }

    /// Round a `(1, 3, H, W)` tensor in [0, 1] to 8 bits.
    pub fn from_tensor(t: &Tensor) -> candle_core::Result<Rgb8> {
        let (_, _, h, w) = t.dims4()?;
        let v: Vec<f32> = t
            .squeeze(0)?
            .permute((1, 2, 0))?
            .contiguous()?
            .flatten_all()?
            .to_vec1()?;
        Ok(Rgb8 {
            w,
            h,
            data: v
                .iter()
                .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
        })
    }

    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(
            enc,
            &self.data,
            self.w as u32,
            self.h as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| AdvError::Image {
            path: "<png encoder>".into(),
            message: e.to_string(),
        })?;
        Ok(out)
    }
}
