//! Every guard-layer kind, one line each. A kind lives in its layer's file (a
//! `pub static KIND: LayerKind`); adding a layer is that file and one line in
//! [`LAYERS`]. `tests/it/layer_table.rs` holds every kind to the invariants.

use super::kind::LayerKind;
use super::{
    classify_input, classify_output, ecso, jailguard, ocr, prompt_adaptive, prompt_static, purify,
};

pub static LAYERS: &[&LayerKind] = &[
    &prompt_static::KIND,
    &prompt_adaptive::KIND,
    &ocr::KIND,
    &classify_input::KIND,
    &purify::KIND,
    &jailguard::KIND,
    &ecso::KIND,
    &classify_output::KIND,
    &classify_output::DETOX_KIND,
];

/// The kind a policy's `kind = "…"` names.
pub fn find(name: &str) -> Option<&'static LayerKind> {
    LAYERS.iter().copied().find(|k| k.name == name)
}

/// Every kind's name, in table order.
pub fn names() -> Vec<&'static str> {
    LAYERS.iter().map(|k| k.name).collect()
}
