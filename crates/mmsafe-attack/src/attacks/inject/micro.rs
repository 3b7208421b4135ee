//! `inject:micro`: the instruction in very small text, optionally repeated as
//! a watermark-like tile over the whole carrier.

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
    ParamSpec::new(
        "overflow",
        "clip",
        "text too long for the image: shrink, paginate, clip, error",
    ),
    ParamSpec::new("size", "9", "font size in px"),
    ParamSpec::new("repeat", "1", "times the instruction is repeated (tiled)"),
    ParamSpec::new("color", "#303030", "text colour"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:micro"),
    summary: Cow::Borrowed(
        "Instruction in micro text (a few px), optionally tiled, on a carrier; benign user query",
    ),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct Micro {
    repeat: usize,
    pen: Pen,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let repeat: usize = crate::common::param(name, params, "repeat")?;
    if repeat == 0 || repeat > 1000 {
        return Err(crate::common::err(name, "repeat must be 1..1000"));
    }
    let v = Micro {
        repeat,
        pen: Pen::from_params(name, params)?,
    };
    inject::attack(name, params, PARAMS, v)
}

impl Variant for Micro {
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
        let text = vec![payload; self.repeat].join("  ");
        let rect = Rect::new(3, 3, w.saturating_sub(6).max(1), h.saturating_sub(6).max(1));
        self.pen.stamp(
            attack,
            c,
            &img,
            &text,
            rect,
            serde_json::json!({"repeat": self.repeat}),
        )
    }
}
