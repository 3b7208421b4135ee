//! `inject:corner`: a small instruction block tucked into a corner or edge.

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
    ParamSpec::new(
        "corner",
        "br",
        "tl, tr, bl, br (corners) or top, bottom, left, right (edge strips)",
    ),
    ParamSpec::new("box", "0.35", "block size as a fraction of the image side"),
    ParamSpec::new("size", "14", "font size in px"),
    ParamSpec::new("color", "#202020", "text colour"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:corner"),
    summary: Cow::Borrowed(
        "Small instruction block in a corner or along an edge of a carrier; benign user query",
    ),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct Corner {
    corner: String,
    frac: f64,
    pen: Pen,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let corner = params.str("corner").to_string();
    if !["tl", "tr", "bl", "br", "top", "bottom", "left", "right"].contains(&corner.as_str()) {
        return Err(crate::common::err(
            name,
            format!("corner=`{corner}`: expected tl, tr, bl, br, top, bottom, left, right"),
        ));
    }
    let frac = params
        .fraction("box")
        .map_err(|e| crate::common::err(name, e.message))?;
    if !(0.05..=1.0).contains(&frac) {
        return Err(crate::common::err(name, "box must be within 0.05..1"));
    }
    let v = Corner {
        corner,
        frac,
        pen: Pen::from_params(name, params)?,
    };
    inject::attack(name, params, PARAMS, v)
}

impl Variant for Corner {
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
        let m = 4u32;
        let bw = ((w as f64 * self.frac) as u32).max(8);
        let bh = ((h as f64 * self.frac) as u32).max(8);
        let (x, y, rw, rh) = match self.corner.as_str() {
            "tl" => (m, m, bw, bh),
            "tr" => (w.saturating_sub(bw + m), m, bw, bh),
            "bl" => (m, h.saturating_sub(bh + m), bw, bh),
            "br" => (w.saturating_sub(bw + m), h.saturating_sub(bh + m), bw, bh),
            "top" => (m, m, w.saturating_sub(2 * m), bh / 3),
            "bottom" => (
                m,
                h.saturating_sub(bh / 3 + m),
                w.saturating_sub(2 * m),
                bh / 3,
            ),
            "left" => (m, m, bw / 2, h.saturating_sub(2 * m)),
            _ => (
                w.saturating_sub(bw / 2 + m),
                m,
                bw / 2,
                h.saturating_sub(2 * m),
            ),
        };
        let rect = Rect::new(x as i32, y as i32, rw.max(1), rh.max(1));
        self.pen.stamp(
            attack,
            c,
            &img,
            payload,
            rect,
            serde_json::json!({"box": [x, y, rw, rh]}),
        )
    }
}
