//! Built-in attacks, one file each. Adding an attack = one file + one line in
//! [`builtin`].

pub mod figstep;
pub mod figstep_pro;
pub mod inject;
pub mod mm_sd_typo;
pub mod mm_typo;
pub mod none;
pub mod question_image;
pub mod shift;
pub mod template;
pub mod text;

use crate::spec::AttackSpec;

/// The registration list.
pub fn builtin() -> Vec<AttackSpec> {
    vec![
        none::SPEC,
        figstep::SPEC,
        figstep_pro::SPEC,
        mm_typo::SPEC,
        mm_sd_typo::SPEC,
        question_image::SPEC,
        shift::SPEC,
        inject::overlay::SPEC,
        inject::low_contrast::SPEC,
        inject::micro::SPEC,
        inject::corner::SPEC,
        inject::rotated::SPEC,
        inject::alpha::SPEC,
        inject::split::SPEC,
        inject::grid::SPEC,
        inject::document::SPEC,
        text::base64::SPEC,
        text::rot13::SPEC,
        text::leetspeak::SPEC,
        text::homoglyph::SPEC,
        text::payload_split::SPEC,
        text::substitute::SPEC,
        text::spacing::SPEC,
    ]
}
