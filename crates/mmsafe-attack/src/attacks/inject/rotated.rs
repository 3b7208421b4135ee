//! `inject:rotated`: the instruction rotated (and optionally translucent), so
//! simple horizontal-text OCR filters miss it.

use crate::inject::{self, Common, Variant};
use crate::registry::{AttackSpec, BuildCtx};
use mmsafe_core::{AttackError, DynAttack, Image, ParamSpec, Params};
use mmsafe_typography::{Overflow, Rect, Rgba, RgbaImage};
use std::borrow::Cow;

const PARAMS: &[ParamSpec] = &[
    inject::CARRIER,
    inject::WIDTH,
    inject::HEIGHT,
    inject::TEXT,
    inject::FRAME,
    inject::QUERY,
    inject::FONT,
    inject::OVERFLOW,
    ParamSpec::new("angle", "30", "rotation in degrees, counter-clockwise"),
    ParamSpec::new("size", "30", "font size in px"),
    ParamSpec::new("color", "black", "text colour"),
    ParamSpec::new("opacity", "0.9", "text opacity 0..1"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:rotated"),
    summary: Cow::Borrowed(
        "Instruction rotated by an angle (translucent) over a carrier; benign user query",
    ),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct Rotated {
    angle: f32,
    size: f32,
    color: Rgba<u8>,
    overflow: Overflow,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let color = inject::color(name, params, "color")?;
    let v = Rotated {
        angle: crate::common::param(name, params, "angle")?,
        size: crate::common::param(name, params, "size")?,
        color: inject::with_opacity(name, params, color)?,
        overflow: crate::common::param(name, params, "overflow")?,
    };
    inject::attack(name, params, PARAMS, v)
}

impl Variant for Rotated {
    fn images(
        &self,
        attack: &str,
        c: &Common,
        payload: &str,
        carrier: Option<&RgbaImage>,
        _seed: u64,
    ) -> Result<(Vec<Image>, serde_json::Value), AttackError> {
        let img = carrier
            .cloned()
            .unwrap_or_else(|| RgbaImage::new(c.width, c.height));
        let (w, h) = img.dimensions();
        // A centred box small enough that its rotation stays inside the image.
        let side = (w.min(h) as f32 * 0.62) as u32;
        let rect = Rect::new(
            ((w - side) / 2) as i32,
            ((h - side) / 2) as i32,
            side.max(1),
            side.max(1),
        );
        let pages = inject::draw_text(
            attack,
            &img,
            payload,
            &c.font,
            self.size,
            rect,
            self.overflow,
            self.color,
            self.angle,
        )?;
        Ok((
            inject::encode(attack, &pages)?,
            serde_json::json!({"angle": self.angle}),
        ))
    }
}
