//! `inject:low-contrast`: the instruction drawn as a small brightness shift of
//! the carrier itself (ΔL = `delta`), hard for people to notice.

use crate::inject::{self, Common, Variant};
use crate::spec::{AttackSpec, BuildCtx};
use mmsafe_core::{AttackError, DynAttack, Image, ParamSpec, Params};
use mmsafe_typography::{fit, Fit, Mask, Overflow, Rect, RgbaImage, TextStyle, Wrap};
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
        "delta",
        "10",
        "brightness difference of the text (0-255; small = faint)",
    ),
    ParamSpec::new("size", "36", "font size in px"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:low-contrast"),
    summary: Cow::Borrowed(
        "Instruction as a faint brightness shift of the carrier (low contrast), benign user query",
    ),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct LowContrast {
    delta: u8,
    size: f32,
    overflow: Overflow,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let v = LowContrast {
        delta: crate::common::param(name, params, "delta")?,
        size: crate::common::param(name, params, "size")?,
        overflow: crate::common::param(name, params, "overflow")?,
    };
    inject::attack(name, params, PARAMS, v)
}

impl Variant for LowContrast {
    fn images(
        &self,
        attack: &str,
        c: &Common,
        payload: &str,
        carrier: Option<&RgbaImage>,
        _seed: u64,
    ) -> Result<(Vec<Image>, serde_json::Value), AttackError> {
        let base = inject::canvas(c, carrier);
        let (w, h) = base.dimensions();
        let style = TextStyle::new(c.font.clone(), self.size);
        let rect = Rect::new(
            24,
            24,
            w.saturating_sub(48).max(1),
            h.saturating_sub(48).max(1),
        );
        let f = Fit {
            rect,
            wrap: Wrap::Pixels,
            overflow: self.overflow,
            min_size: 6.0,
        };
        let pages = fit(payload, &style, &f).map_err(|e| crate::common::err(attack, e))?;
        let mut out = Vec::new();
        for layout in &pages {
            let mut img = base.clone();
            let mut mask = Mask::from_layout(layout);
            if self.overflow == Overflow::Clip {
                mask.clip_to(rect);
            }
            for (mx, my, a) in mask.img.enumerate_pixels() {
                let (x, y) = (mask.x + mx as i32, mask.y + my as i32);
                if a.0[0] == 0 || x < 0 || y < 0 || x >= w as i32 || y >= h as i32 {
                    continue;
                }
                let p = img.get_pixel_mut(x as u32, y as u32);
                let luma = (p.0[0] as u32 * 3 + p.0[1] as u32 * 6 + p.0[2] as u32) / 10;
                let shift = (self.delta as u32 * a.0[0] as u32 / 255) as i32;
                // Darken light pixels and lighten dark ones so the shift never clips away.
                let s = if luma > 127 { -shift } else { shift };
                for k in 0..3 {
                    p.0[k] = (p.0[k] as i32 + s).clamp(0, 255) as u8;
                }
            }
            out.push(img);
        }
        Ok((
            inject::encode(attack, &out)?,
            serde_json::json!({"delta": self.delta}),
        ))
    }
}
