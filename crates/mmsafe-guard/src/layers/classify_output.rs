//! `classify:output` and `detox` — judge the answer; block it with the
//! policy's refusal, or rewrite it through a detoxifier target
//! (MLLM-Protector in spirit, methods.md §9).

use super::kind::{default_classifier, Build, Compiled, FormatParam, LayerKind};
use crate::check::{Check, Decision};
use crate::classify::{ClassifyInput, DynClassifier, Subject};
use crate::error::GuardError;
use async_trait::async_trait;
use mmsafe_core::{DynTarget, Message, Request, Response};
use serde::Deserialize;
use std::sync::Arc;

pub enum OnUnsafe {
    Block,
    Flag,
    /// Rewrite through this target; its output replaces the answer.
    Detox(DynTarget),
}

pub struct ClassifyOutputLayer {
    pub name: &'static str,
    pub classifier: DynClassifier,
    pub on_unsafe: OnUnsafe,
}

/// The detoxifier instruction (MLLM-Protector's inference form, our wording).
pub fn detox_prompt(original: &str) -> String {
    format!(
        "You are given a response which may contain sensitive or harmful information. \
         Rewrite it into a harmless, helpful response: remove anything dangerous, illegal or \
         unethical, and if nothing harmless is left, politely decline.\n\n\
         Original response: {original}\nCorrected response: "
    )
}

#[async_trait]
impl Check for ClassifyOutputLayer {
    fn name(&self) -> &str {
        self.name
    }
    fn checks_request(&self) -> bool {
        false
    }
    fn warm_up(&self) -> Result<(), GuardError> {
        self.classifier.warm_up()
    }
    fn checks_response(&self) -> bool {
        true
    }

    async fn on_response(
        &self,
        req: &Request,
        resp: &Response,
    ) -> Result<Decision<Response>, GuardError> {
        if resp.finish_reason == mmsafe_core::FinishReason::GuardBlocked {
            return Ok(Decision::pass("already blocked by an earlier layer"));
        }
        let c = self
            .classifier
            .classify(ClassifyInput {
                subject: Subject::Response,
                request: req,
                extra_text: "",
                response: Some(&resp.text),
            })
            .await?;
        let detail = serde_json::json!({
            "classifier": self.classifier.name(),
            "unsafe": c.unsafe_content,
            "score": c.score,
            "categories": c.categories,
        });
        if !c.unsafe_content {
            return Ok(Decision::pass(c.rationale)
                .detail(detail)
                .cost(c.calls, c.usage));
        }
        let reason = format!("unsafe response: {}", c.rationale);
        let d = match &self.on_unsafe {
            OnUnsafe::Block => Decision::block(reason),
            OnUnsafe::Flag => Decision::flag(reason),
            OnUnsafe::Detox(target) => {
                let dreq = Request {
                    max_tokens: req.max_tokens.or(Some(512)),
                    temperature: Some(0.0),
                    ..Request::new(vec![Message::user_text(detox_prompt(&resp.text))])
                };
                let out = target
                    .call(dreq)
                    .await
                    .map_err(|e| GuardError::new(self.name, format!("detoxifier: {e}")))?;
                let mut new = resp.clone();
                new.text = out.text.trim().to_string();
                Decision::rewrite(new, format!("{reason}; rewritten by detoxifier"))
                    .cost(1, out.usage)
            }
        };
        Ok(d.detail(detail).cost(c.calls, c.usage))
    }
}

pub static KIND: LayerKind = LayerKind {
    name: "classify:output",
    summary: "classify the answer; block, flag or detox it",
    example: "",
    build,
};

pub static DETOX_KIND: LayerKind = LayerKind {
    name: "detox",
    summary:
        "classify the answer; rewrite unsafe answers through a detoxifier target (MLLM-Protector)",
    example: "target = \"detoxifier\"",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_classifier")]
    classifier: String,
    threshold: Option<f64>,
    action: Option<String>,
    /// Detoxifier target spec (for `action = "detox"` and kind `detox`).
    target: Option<String>,
    #[serde(default)]
    guard_format: FormatParam,
}

/// `classify:output` and `detox` differ only in their default action.
fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let p: Params = b.params()?;
    let detox = b.kind == DETOX_KIND.name;
    let action = p
        .action
        .as_deref()
        .unwrap_or(if detox { "detox" } else { "block" });
    let on_unsafe = match action {
        "block" => OnUnsafe::Block,
        "flag" => OnUnsafe::Flag,
        "detox" => {
            let t = p
                .target
                .as_deref()
                .ok_or("`detox` needs `target = \"<target spec>\"` (the detoxifier)")?;
            OnUnsafe::Detox(b.models.target(t)?)
        }
        other => {
            return Err(format!(
                "`action` = `{other}`: use `block`, `flag` or `detox`"
            ))
        }
    };
    let classifier = b
        .models
        .classifier(&p.classifier, p.threshold, p.guard_format.into())?;
    Ok(b.check(Arc::new(ClassifyOutputLayer {
        name: if detox { DETOX_KIND.name } else { KIND.name },
        classifier,
        on_unsafe,
    })))
}
