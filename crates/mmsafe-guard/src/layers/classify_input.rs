//! `classify:input` — the request (its text plus the OCR text of its images)
//! through a classifier: the offline embedding classifier, a scoring judge, or
//! a guard model (`llamaguard:<target>`, which also sees the first image).

use super::kind::{default_classifier, yes, Build, Compiled, FormatParam, LayerKind};
use crate::check::{Check, Decision};
use crate::classify::{ClassifyInput, DynClassifier, Subject};
use crate::error::GuardError;
use crate::ocr_cache::SharedOcr;
use async_trait::async_trait;
use mmsafe_core::Request;
use serde::Deserialize;
use std::sync::Arc;

pub struct ClassifyInputLayer {
    pub classifier: DynClassifier,
    /// Add the OCR text of images when an OCR engine is configured.
    pub ocr: Option<Arc<SharedOcr>>,
    /// Block when unsafe (else only flag).
    pub block: bool,
}

#[async_trait]
impl Check for ClassifyInputLayer {
    fn name(&self) -> &str {
        "classify:input"
    }
    fn warm_up(&self) -> Result<(), GuardError> {
        self.classifier.warm_up()
    }

    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        let extra = match &self.ocr {
            Some(ocr) if req.images().next().is_some() => {
                crate::blocking::run(|| ocr.request_text(req.images(), 0.5))
                    .await
                    .map_err(|e| GuardError::new("classify:input", e))?
            }
            _ => String::new(),
        };
        let c = self
            .classifier
            .classify(ClassifyInput {
                subject: Subject::Prompt,
                request: req,
                extra_text: &extra,
                response: None,
            })
            .await?;
        let detail = serde_json::json!({
            "classifier": self.classifier.name(),
            "unsafe": c.unsafe_content,
            "score": c.score,
            "categories": c.categories,
            "ocr_chars": extra.chars().count(),
        });
        let d = if !c.unsafe_content {
            Decision::pass(c.rationale)
        } else if self.block {
            Decision::block(format!("unsafe request: {}", c.rationale))
        } else {
            Decision::flag(format!("unsafe request: {}", c.rationale))
        };
        Ok(d.detail(detail).cost(c.calls, c.usage))
    }
}

pub static KIND: LayerKind = LayerKind {
    name: "classify:input",
    summary: "classify the request text plus image text; block if unsafe",
    example: "",
    build,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_classifier")]
    classifier: String,
    threshold: Option<f64>,
    #[serde(default = "d_action")]
    action: String,
    #[serde(default = "yes")]
    use_ocr: bool,
    #[serde(default)]
    guard_format: FormatParam,
}

fn d_action() -> String {
    "block".into()
}

fn build(b: &mut Build<'_, '_>) -> Result<Compiled, String> {
    let p: Params = b.params()?;
    let block = match p.action.as_str() {
        "block" => true,
        "flag" => false,
        other => return Err(format!("`action` = `{other}`: use `block` or `flag`")),
    };
    let classifier = b
        .models
        .classifier(&p.classifier, p.threshold, p.guard_format.into())?;
    let ocr = p.use_ocr.then(|| b.models.ocr_for_images());
    Ok(b.check(Arc::new(ClassifyInputLayer {
        classifier,
        ocr,
        block,
    })))
}
