//! `inject:alpha`: text hidden in the alpha channel (Noever & Noever, methods.md
//! §5.3). `mode=theme`: black text whose alpha is its coverage on fully
//! transparent black — visible composited on white, absent on black (or the
//! reverse with `visible_on=black`). `mode=dirty`: the text lives only in the
//! RGB of fully transparent pixels — invisible when composited, readable by a
//! pipeline that drops alpha.

use crate::inject::{self, Common, Variant};
use crate::spec::{AttackSpec, BuildCtx};
use mmsafe_core::{AttackError, DynAttack, Image, ParamSpec, Params};
use mmsafe_typography::{fit, Fit, Mask, Overflow, Rect, RgbaImage, TextStyle, Wrap};
use std::borrow::Cow;

const PARAMS: &[ParamSpec] = &[
    inject::WIDTH, inject::HEIGHT, inject::TEXT, inject::FRAME, inject::QUERY, inject::FONT, inject::OVERFLOW,
    ParamSpec::new("carrier", "none", "unused: the image is the text layer alone"),
    ParamSpec::new("mode", "theme", "theme (shows on one background, vanishes on the other) or dirty (text only in RGB under alpha 0)"),
    ParamSpec::new("visible_on", "white", "theme mode: the background the text shows on (white or black)"),
    ParamSpec::new("size", "40", "font size in px"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("inject:alpha"),
    summary: Cow::Borrowed("Instruction hidden via the alpha channel: visible on one background, gone on another (or RGB under alpha 0)"),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct Alpha {
    dirty: bool,
    on_white: bool,
    size: f32,
    overflow: Overflow,
}

fn build(name: &str, params: &Params, _ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let dirty = match params.str("mode") {
        "theme" => false,
        "dirty" => true,
        o => {
            return Err(crate::common::err(
                name,
                format!("mode=`{o}`: expected theme or dirty"),
            ))
        }
    };
    let on_white = match params.str("visible_on") {
        "white" => true,
        "black" => false,
        o => {
            return Err(crate::common::err(
                name,
                format!("visible_on=`{o}`: expected white or black"),
            ))
        }
    };
    let v = Alpha {
        dirty,
        on_white,
        size: crate::common::param(name, params, "size")?,
        overflow: crate::common::param(name, params, "overflow")?,
    };
    inject::attack(name, params, PARAMS, v)
}

/// The RGBA text layer for `payload` (see the module docs).
pub fn render(
    c: &Common,
    payload: &str,
    dirty: bool,
    on_white: bool,
    size: f32,
    overflow: Overflow,
) -> Result<Vec<RgbaImage>, mmsafe_typography::Error> {
    let (w, h) = (c.width, c.height);
    let style = TextStyle::new(c.font.clone(), size);
    let rect = Rect::new(
        24,
        24,
        w.saturating_sub(48).max(1),
        h.saturating_sub(48).max(1),
    );
    let pages = fit(
        payload,
        &style,
        &Fit {
            rect,
            wrap: Wrap::Pixels,
            overflow,
            min_size: 6.0,
        },
    )?;
    Ok(pages
        .iter()
        .map(|layout| {
            let mut mask = Mask::from_layout(layout);
            if overflow == Overflow::Clip {
                mask.clip_to(rect);
            }
            let ink: u8 = if on_white { 0 } else { 255 };
            let mut img = if dirty {
                RgbaImage::from_pixel(w, h, mmsafe_typography::Rgba([255, 255, 255, 0]))
            } else {
                RgbaImage::from_pixel(w, h, mmsafe_typography::Rgba([ink, ink, ink, 0]))
            };
            for (mx, my, a) in mask.img.enumerate_pixels() {
                let (x, y) = (mask.x + mx as i32, mask.y + my as i32);
                if a.0[0] == 0 || x < 0 || y < 0 || x >= w as i32 || y >= h as i32 {
                    continue;
                }
                let p = img.get_pixel_mut(x as u32, y as u32);
                if dirty {
                    let v = 255 - a.0[0];
                    *p = mmsafe_typography::Rgba([v, v, v, 0]);
                } else {
                    *p = mmsafe_typography::Rgba([ink, ink, ink, a.0[0]]);
                }
            }
            img
        })
        .collect())
}

impl Variant for Alpha {
    fn needs_carrier(&self) -> bool {
        false
    }

    fn images(
        &self,
        attack: &str,
        c: &Common,
        payload: &str,
        _carrier: Option<&RgbaImage>,
        _seed: u64,
    ) -> Result<(Vec<Image>, serde_json::Value), AttackError> {
        let pages = render(
            c,
            payload,
            self.dirty,
            self.on_white,
            self.size,
            self.overflow,
        )
        .map_err(|e| crate::common::err(attack, e))?;
        let images = pages
            .iter()
            .map(|p| {
                mmsafe_typography::png::encode_rgba_keep_alpha(p)
                    .map(Image::png)
                    .map_err(|e| crate::common::err(attack, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let detail = serde_json::json!({
            "mode": if self.dirty { "dirty" } else { "theme" },
            "visible_on": if self.dirty { "alpha-dropped" } else if self.on_white { "white" } else { "black" },
        });
        Ok((images, detail))
    }
}
