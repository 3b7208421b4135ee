//! `inject:rotated`: the instruction rotated (and optionally translucent), so
//! simple horizontal-text OCR filters miss it.

use crate::inject::{self, Common, Pen, Variant};
use crate::spec::{AttackSpec, BuildCtx};
use mmsafe_core::{AttackError, DynAttack, Image, ParamSpec, Params};
use mmsafe_typography::{Rect, RgbaImage};
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
    pen: Pen,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let color = inject::color(name, params, "color")?;
    let rotation = crate::common::param(name, params, "angle")?;
    let size = crate::common::param(name, params, "size")?;
    let color = inject::with_opacity(name, params, color)?;
    let overflow = crate::common::param(name, params, "overflow")?;
    let v = Rotated {
        pen: Pen {
            size,
            color,
            overflow,
            rotation,
        },
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
        let img = inject::canvas(c, carrier);
        let (w, h) = img.dimensions();
        // A centred box small enough that its rotation stays inside the image.
        let side = (w.min(h) as f32 * 0.62) as u32;
        let rect = Rect::new(
            ((w - side) / 2) as i32,
            ((h - side) / 2) as i32,
            side.max(1),
            side.max(1),
        );
        self.pen.stamp(
            attack,
            c,
            &img,
            payload,
            rect,
            serde_json::json!({"angle": self.pen.rotation}),
        )
    }
}
