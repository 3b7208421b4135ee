//! `mm-sd-typo`: MM-SafetyBench's SD_TYPO variant — a picture of the concept
//! on top, the key-phrase typography below (vertical concatenation). mmsafe
//! runs no diffusion model: the top image is a file (`image=PATH`) or the
//! case's own image; without either the attack fails rather than substitute.

use crate::common::{
    self, decode_image, derive, last_user_images, load_image_file, param, png_rgba,
    replace_last_user,
};
use crate::mmtypo;
use crate::spec::{AttackSpec, BuildCtx};
use async_trait::async_trait;
use image::GenericImage;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, DynTarget, ParamSpec, Params, Part};
use mmsafe_typography::{Font, Rgba, RgbaImage};
use std::borrow::Cow;
use std::sync::Arc;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "image",
        "case",
        "top image: `case` (the case's first image) or a PNG/JPEG path",
    ),
    ParamSpec::new(
        "font",
        "auto",
        "auto = Liberation Sans (Arial-metric) if installed, else bundled:dejavu-sans",
    ),
    ParamSpec::new("size", "90", "font size in px"),
    ParamSpec::new("width", "1024", "typography width in px"),
    ParamSpec::new(
        "extractor",
        "rules",
        "key-phrase extractor: rules or a target spec (must be the last parameter)",
    ),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("mm-sd-typo"),
    summary: Cow::Borrowed("MM-SafetyBench SD_TYPO: supplied/case image above the key-phrase typography + 'bottom of the image' prompt"),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct MmSdTypo {
    label: String,
    params: Params,
    image: Option<(RgbaImage, String)>,
    font: Font,
    size: f32,
    width: u32,
    extractor: Option<DynTarget>,
}

fn build(name: &str, params: &Params, ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let image = match params.str("image") {
        "case" => None,
        path => Some((load_image_file(name, path)?, format!("file:{path}"))),
    };
    Ok(Arc::new(MmSdTypo {
        label: common::label(name, params, PARAMS),
        params: params.clone(),
        image,
        font: common::load_font(name, params.str("font"), mmtypo::FONTS)?,
        size: param(name, params, "size")?,
        width: param(name, params, "width")?,
        extractor: ctx.extractor(name, params.str("extractor"))?,
    }))
}

#[async_trait]
impl Attack for MmSdTypo {
    fn name(&self) -> &str {
        &self.label
    }

    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let (top, top_src) = match &self.image {
            Some((img, src)) => (img.clone(), src.clone()),
            None => {
                let img = last_user_images(case).into_iter().next().ok_or_else(|| {
                    common::err(
                        &self.label,
                        format!("case `{}` has no image; pass image=PATH", case.id),
                    )
                })?;
                (
                    decode_image(&self.label, &img)?,
                    format!("case:{}", img.sha256()),
                )
            }
        };
        let e = mmtypo::key_phrase(case, self.extractor.as_ref()).await;
        let typo = mmtypo::render(&self.font, self.size, self.width, &e.key_phrase);
        let w = top.width().max(typo.width());
        let mut out =
            RgbaImage::from_pixel(w, top.height() + typo.height(), Rgba([255, 255, 255, 255]));
        let typo_rgba = image::DynamicImage::ImageLuma8(typo).to_rgba8();
        out.copy_from(&top, 0, 0)
            .map_err(|x| common::err(&self.label, x))?;
        out.copy_from(&typo_rgba, 0, top.height())
            .map_err(|x| common::err(&self.label, x))?;
        let parts = vec![
            Part::text(mmtypo::framed_prompt(case, &e.rephrased)),
            Part::image(png_rgba(&self.label, &out)?),
        ];
        let detail = serde_json::json!({
            "font": self.font.source().to_string(),
            "top_image": top_src,
            "extraction": e,
        });
        let msgs = replace_last_user(case, parts);
        Ok(vec![derive(
            case,
            &self.label,
            &self.params,
            seed,
            None,
            msgs,
            detail,
        )])
    }
}
