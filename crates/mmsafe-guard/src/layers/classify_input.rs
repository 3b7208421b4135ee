//! `classify:input` — the request (its text plus the OCR text of its images)
//! through a classifier: the offline embedding classifier, a scoring judge, or
//! a guard model (`llamaguard:<target>`, which also sees the first image).

use crate::check::{Check, Decision};
use crate::classify::{ClassifyInput, DynClassifier, Subject};
use crate::error::GuardError;
use crate::ocr_cache::SharedOcr;
use async_trait::async_trait;
use mmsafe_core::Request;
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
