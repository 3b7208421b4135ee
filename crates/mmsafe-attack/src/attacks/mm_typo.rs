//! `mm-typo`: MM-SafetyBench's TYPO variant — the key phrase as typography,
//! sent with the rephrased question that points at "the bottom of the image".

use crate::common::{self, derive, param, png_gray, replace_last_user};
use crate::mmtypo;
use crate::spec::{AttackSpec, BuildCtx};
use async_trait::async_trait;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, DynTarget, ParamSpec, Params, Part};
use mmsafe_typography::Font;
use std::borrow::Cow;
use std::sync::Arc;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new("font", "auto", "auto = Liberation Sans (Arial-metric) if installed, else bundled:dejavu-sans; or a path, family or bundled:NAME"),
    ParamSpec::new("size", "90", "font size in px"),
    ParamSpec::new("width", "1024", "image width and wrap width in px"),
    ParamSpec::new("extractor", "rules", "key-phrase extractor: rules or a target spec (must be the last parameter)"),
];

pub const SPEC: AttackSpec = AttackSpec {
    name: Cow::Borrowed("mm-typo"),
    summary: Cow::Borrowed("MM-SafetyBench TYPO: extracted key phrase as typography + 'the bottom of the image shows a phrase…' prompt"),
    params: PARAMS,
    uses_seed: false,
    build,
};

struct MmTypo {
    label: String,
    params: Params,
    font: Font,
    size: f32,
    width: u32,
    extractor: Option<DynTarget>,
}

fn build(name: &str, params: &Params, ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    Ok(Arc::new(MmTypo {
        label: common::label(name, params, PARAMS),
        params: params.clone(),
        font: common::load_font(name, params.str("font"), mmtypo::FONTS)?,
        size: param(name, params, "size")?,
        width: param(name, params, "width")?,
        extractor: ctx.extractor(name, params.str("extractor"))?,
    }))
}

#[async_trait]
impl Attack for MmTypo {
    fn name(&self) -> &str {
        &self.label
    }

    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let e = mmtypo::key_phrase(case, self.extractor.as_ref()).await;
        let img = mmtypo::render(&self.font, self.size, self.width, &e.key_phrase);
        let parts = vec![
            Part::text(mmtypo::framed_prompt(case, &e.rephrased)),
            Part::image(png_gray(&self.label, &img)?),
        ];
        let detail = serde_json::json!({"font": self.font.source().to_string(), "extraction": e});
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
