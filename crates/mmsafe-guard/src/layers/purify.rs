//! `purify` — image purification against adversarial perturbations: JPEG
//! re-encoding, bit-depth reduction, down/up-resizing, Gaussian or median blur,
//! applied in that order to every image (each step optional).

use super::kind::{Build, Compiled, LayerKind};
use super::map_images;
use crate::check::{Check, Decision};
use crate::error::GuardError;
use crate::imaging;
use async_trait::async_trait;
use mmsafe_core::{Image, Request};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurifyParams {
    /// JPEG quality 1–100; `0` skips.
    #[serde(default = "d_jpeg")]
    pub jpeg_quality: u8,
    /// Bits kept per channel 1–8; `8` skips.
    #[serde(default = "d_bits")]
    pub bit_depth: u8,
    /// Down-scale factor before scaling back; `1.0` skips.
    #[serde(default = "d_resize")]
    pub resize: f32,
    /// Gaussian sigma in pixels; `0` skips.
    #[serde(default)]
    pub blur_sigma: f32,
    /// Median window radius in pixels; `0` skips.
    #[serde(default)]
    pub median_radius: u32,
}

fn d_jpeg() -> u8 {
    75
}
fn d_bits() -> u8 {
    5
}
fn d_resize() -> f32 {
    1.0
}

impl Default for PurifyParams {
    fn default() -> Self {
        PurifyParams {
            jpeg_quality: d_jpeg(),
            bit_depth: d_bits(),
            resize: d_resize(),
            blur_sigma: 0.0,
            median_radius: 0,
        }
    }
}

pub struct Purify {
    pub params: PurifyParams,
}

impl Purify {
    pub fn purify(&self, img: &Image) -> Result<Image, String> {
        let p = &self.params;
        let mut px = imaging::decode(img)?;
        if p.jpeg_quality > 0 && p.jpeg_quality < 100 {
            px = imaging::jpeg_roundtrip(&px, p.jpeg_quality)?;
        }
        if p.bit_depth < 8 {
            imaging::reduce_bits(&mut px, p.bit_depth);
        }
        if p.resize > 0.0 && p.resize < 1.0 {
            px = imaging::down_up(&px, p.resize);
        }
        if p.blur_sigma > 0.0 {
            px = imaging::gaussian_blur(&px, p.blur_sigma);
        }
        if p.median_radius > 0 {
            px = imaging::median(&px, p.median_radius);
        }
        imaging::encode_png(&px)
    }
}

#[async_trait]
impl Check for Purify {
    fn name(&self) -> &str {
        "purify"
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        let n = req.images().count();
        if n == 0 {
            return Ok(Decision::pass("no images"));
        }
        let out = crate::blocking::run(|| map_images(req, |_, img| self.purify(img)))
            .await
            .map_err(|e| GuardError::new("purify", e))?;
        let p = &self.params;
        Ok(
            Decision::rewrite(out, format!("{n} image(s) purified")).detail(serde_json::json!({
                "images": n,
                "jpeg_quality": p.jpeg_quality,
                "bit_depth": p.bit_depth,
                "resize": p.resize,
                "blur_sigma": p.blur_sigma,
                "median_radius": p.median_radius,
            })),
        )
    }
}

pub static KIND: LayerKind = LayerKind {
    name: "purify",
    summary: "JPEG re-encode, bit-depth reduction, resize, blur images",
    example: "",
    build,
};

fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let params: PurifyParams = b.params()?;
    Ok(b.check(Arc::new(Purify { params })))
}
