//! Text converters (`text:*`), one file each: rewrite the prompt text (images
//! of the prompt are kept) and, with `instruct=true`, tell the model how to
//! read it.

pub mod base64;
pub mod homoglyph;
pub mod leetspeak;
pub mod payload_split;
pub mod rot13;
pub mod spacing;
pub mod substitute;

use crate::common::{self, derive, last_user_images, param, source_text, TextSource};
use async_trait::async_trait;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, ParamSpec, Params, Part};
use std::sync::Arc;

pub const TEXT: ParamSpec = ParamSpec::new(
    "text",
    "prompt",
    "text to convert: prompt, question, instruction, auto",
);
pub const INSTRUCT: ParamSpec = ParamSpec::new(
    "instruct",
    "true",
    "add a line telling the model how to read the converted text",
);

/// One converter: the converted text, the reading instruction, provenance.
pub trait Convert: Send + Sync {
    fn convert(&self, text: &str, seed: u64) -> (String, serde_json::Value);
    /// Sentence placed before the converted text when `instruct=true`.
    fn instruction(&self) -> String;
}

struct Converter<C: Convert> {
    label: String,
    params: Params,
    source: TextSource,
    instruct: bool,
    conv: C,
}

pub fn attack<C: Convert + 'static>(
    name: &str,
    params: &Params,
    specs: &[ParamSpec],
    conv: C,
) -> Result<DynAttack, AttackError> {
    Ok(Arc::new(Converter {
        label: common::label(name, params, specs),
        params: params.clone(),
        source: param(name, params, "text")?,
        instruct: params
            .bool("instruct")
            .map_err(|e| common::err(name, e.message))?,
        conv,
    }))
}

#[async_trait]
impl<C: Convert> Attack for Converter<C> {
    fn name(&self) -> &str {
        &self.label
    }

    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let (text, from) = source_text(&self.label, case, self.source)?;
        let (converted, mut detail) = self.conv.convert(&text, seed);
        let body = if self.instruct {
            format!("{}\n\n{converted}", self.conv.instruction())
        } else {
            converted
        };
        let mut parts = vec![Part::text(body)];
        parts.extend(last_user_images(case).into_iter().map(Part::image));
        if !detail.is_object() {
            detail = serde_json::json!({});
        }
        detail["text_source"] = from.into();
        let msgs = common::replace_last_user(case, parts);
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
