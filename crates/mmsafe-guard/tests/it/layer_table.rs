//! Conformance over the whole guard-layer table: every kind in `LAYERS`
//! builds from a policy file, names itself, rejects parameters it does not
//! know, and passes a benign text request through to the target.

use crate::support::*;
use mmsafe_core::{Embedder, Layer, Message, Ocr, Request};
use mmsafe_guard::{Policy, LAYERS, PRESETS};
use std::sync::Arc;

/// The test resolver, plus one target (`detoxifier`, an echo) for the
/// layers that call a second model.
struct TableResolver(TestResolver);

impl mmsafe_guard::Resolver for TableResolver {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        self.0.ocr()
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        self.0.embedder()
    }
    fn target(&self, spec: &str) -> Result<mmsafe_core::DynTarget, String> {
        match spec {
            "detoxifier" => Ok(Recorder::echo()),
            other => self.0.target(other),
        }
    }
    fn judge(&self, spec: &str) -> Result<mmsafe_core::DynJudge, String> {
        self.0.judge(spec)
    }
    fn harm_scorer(&self, file: Option<&str>) -> Result<Arc<dyn mmsafe_core::PairScorer>, String> {
        self.0.harm_scorer(file)
    }
}

fn resolver() -> TableResolver {
    TableResolver(TestResolver {
        ocr: Arc::new(ScriptedOcr::default()),
    })
}

fn policy_of(kind: &str, params: &str) -> String {
    format!("[[layer]]\nkind = \"{kind}\"\n{params}\n")
}

#[test]
fn names_are_unique_and_described() {
    let mut names: Vec<&str> = LAYERS.iter().map(|k| k.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "duplicate layer kind names");
    for k in LAYERS {
        assert!(!k.summary.trim().is_empty(), "`{}` has no summary", k.name);
    }
}

#[test]
fn every_kind_builds_from_its_example_and_names_itself() {
    for k in LAYERS {
        let text = policy_of(k.name, k.example);
        let policy = Policy::parse(&text, "table.toml", "table", None)
            .unwrap_or_else(|e| panic!("`{}`: {e}", k.name));
        let guard = policy
            .compile(&resolver())
            .unwrap_or_else(|e| panic!("`{}`: {e}", k.name));
        let names: Vec<&str> = guard.layers().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [k.name], "compiled layer must carry its kind's name");
    }
}

#[test]
fn every_kind_rejects_an_unknown_parameter_by_name() {
    for k in LAYERS {
        let text = policy_of(k.name, &format!("{}\nzz_unknown = 1", k.example));
        let policy = Policy::parse(&text, "table.toml", "table", None).unwrap();
        let err = policy.compile(&resolver()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("layer 1 ({})", k.name)) && err.contains("zz_unknown"),
            "`{}`: {err}",
            k.name
        );
    }
}

#[tokio::test]
async fn every_kind_passes_a_benign_text_request_to_the_target() {
    for k in LAYERS {
        let text = policy_of(k.name, k.example);
        let guard = Policy::parse(&text, "table.toml", "table", None)
            .unwrap()
            .compile(&resolver())
            .unwrap();
        let target = Recorder::echo();
        let stacked = guard.layer(target.clone());
        let req = Request::new(vec![Message::user_text(
            "What is a good name for a small orange cat?",
        )]);
        let resp = stacked
            .call(req)
            .await
            .unwrap_or_else(|e| panic!("`{}`: {e}", k.name));
        assert!(
            target.calls() >= 1,
            "`{}` never reached the target on a benign request",
            k.name
        );
        assert!(!resp.text.trim().is_empty(), "`{}`: empty answer", k.name);
    }
}

#[test]
fn presets_use_only_table_kinds() {
    for (name, _) in PRESETS {
        let policy = Policy::load(name).unwrap();
        for layer in &policy.layers {
            assert!(
                LAYERS.iter().any(|k| k.name == layer.kind),
                "preset `{name}` uses `{}`, which is not in LAYERS",
                layer.kind
            );
        }
    }
}
