//! `inject:overlay`: a visible instruction on a translucent band over the carrier.

use crate::inject::{self, Common, Pen, Variant};
use crate::spec::{AttackSpec, BuildCtx};
use mmsafe_core::{AttackError, DynAttack, Image, ParamSpec, Params};
use mmsafe_typography::{Rect, Rgba, RgbaImage};
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
    ParamSpec::new("position", "bottom", "band position: top, center, bottom"),
    ParamSpec::new(
        "band",
        "0.3",
        "band height as a fraction of the image height",
    ),
    ParamSpec::new("size", "32", "font size in px"),
    ParamSpec::new("color", "black", "text colour"),
    ParamSpec::new("band_color", "#ffffffdd", "band colour (with alpha)"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:overlay"),
    summary: Cow::Borrowed(
        "Visible instruction on a translucent band over a carrier image, benign user query",
    ),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct Overlay {
    position: String,
    band: f64,
    band_color: Rgba<u8>,
    pen: Pen,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let band = params
        .fraction("band")
        .map_err(|e| crate::common::err(name, e.message))?;
    if !(0.05..=1.0).contains(&band) {
        return Err(crate::common::err(name, "band must be within 0.05..1"));
    }
    let position = params.str("position").to_string();
    if !["top", "center", "bottom"].contains(&position.as_str()) {
        return Err(crate::common::err(
            name,
            format!("position=`{position}`: expected top, center, bottom"),
        ));
    }
    // Parsed in the order the knobs are listed, so the first bad one is reported.
    let size = crate::common::param(name, params, "size")?;
    let color = inject::color(name, params, "color")?;
    let band_color = inject::color(name, params, "band_color")?;
    let overflow = crate::common::param(name, params, "overflow")?;
    let v = Overlay {
        position,
        band,
        band_color,
        pen: Pen {
            size,
            color,
            overflow,
            rotation: 0.0,
        },
    };
    inject::attack(name, params, PARAMS, v)
}

impl Variant for Overlay {
    fn images(
        &self,
        attack: &str,
        c: &Common,
        payload: &str,
        carrier: Option<&RgbaImage>,
        _seed: u64,
    ) -> Result<(Vec<Image>, serde_json::Value), AttackError> {
        let mut img = inject::canvas(c, carrier);
        let (w, h) = img.dimensions();
        let bh = ((h as f64 * self.band).round() as u32).clamp(1, h);
        let y0 = match self.position.as_str() {
            "top" => 0,
            "center" => (h - bh) / 2,
            _ => h - bh,
        };
        let a = self.band_color.0[3] as u32;
        for y in y0..y0 + bh {
            for x in 0..w {
                let p = img.get_pixel_mut(x, y);
                for k in 0..3 {
                    p.0[k] = ((p.0[k] as u32 * (255 - a) + self.band_color.0[k] as u32 * a + 127)
                        / 255) as u8;
                }
            }
        }
        let m = 12i32;
        let rect = Rect::new(
            m,
            y0 as i32 + m / 2,
            w.saturating_sub(2 * m as u32).max(1),
            bh.saturating_sub(m as u32).max(1),
        );
        self.pen.stamp(
            attack,
            c,
            &img,
            payload,
            rect,
            serde_json::json!({"band": [y0, bh]}),
        )
    }
}
