//! Conformance over the whole guard-layer table: every kind in `LAYERS`
//! builds from a policy file, names itself, rejects parameters it does not
//! know, passes a benign text request through to the target, records an
//! event under its own name, and reports a failing model as an error.

use crate::support::*;
use mmsafe_core::{
    EmbedError, Embedder, Layer, Message, Ocr, PairScorer, Request, Response, Target, TargetError,
    TargetErrorKind, TargetInfo,
};
use mmsafe_guard::{Policy, LAYERS, PRESETS};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The guard of a one-layer policy built from a table entry's example.
fn example_guard(kind: &str, params: &str) -> mmsafe_guard::Guard {
    Policy::parse(&policy_of(kind, params), "table.toml", "table", None)
        .unwrap()
        .compile(&resolver())
        .unwrap()
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
        let guard = example_guard(k.name, k.example);
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

/// A request classifier placed after a layer that appends to the request
/// reads our notes as the user's words: `strict` once ran `ocr` (which notes
/// "task heading over a numbered list") before `classify:input`, and the
/// classifier blocked benign lists on the note.
#[test]
fn presets_classify_the_request_before_anything_appends_to_it() {
    const APPENDS: &[&str] = &["ocr", "prompt:static", "prompt:adaptive"];
    for (name, _) in PRESETS {
        let policy = Policy::load(name).unwrap();
        let kinds: Vec<&str> = policy.layers.iter().map(|l| l.kind.as_str()).collect();
        if let Some(c) = kinds.iter().position(|k| *k == "classify:input") {
            assert!(
                !kinds[..c].iter().any(|k| APPENDS.contains(k)),
                "preset `{name}`: `classify:input` comes after a layer that appends to the request: {kinds:?}"
            );
        }
    }
}

/// Every decision a `GuardEvent` may carry.
const DECISIONS: &[&str] = &["pass", "flag", "rewrite", "block", "error"];

/// What the benign requests below say. Models of [`FailingResolver`] fail on
/// any input containing [`BREAK`], so each layer meets the failure at request
/// time (at warm-up, on prototypes and libraries, they still work).
const BENIGN: &str = "What is a good name for a small orange cat?";
const BREAK: &str = "xqzbreak";

#[tokio::test]
async fn every_kind_names_itself_in_an_event_with_a_known_decision() {
    for k in LAYERS {
        let guard = example_guard(k.name, k.example);
        let stacked = guard.layer(Recorder::echo());
        let resp = stacked
            .call(Request::new(vec![Message::user_text(BENIGN)]))
            .await
            .unwrap_or_else(|e| panic!("`{}`: {e}", k.name));
        let own: Vec<&str> = resp
            .events
            .iter()
            .filter(|e| e.layer == k.name)
            .map(|e| e.decision.as_str())
            .collect();
        assert!(
            !own.is_empty(),
            "`{}` recorded no event: {:?}",
            k.name,
            resp.events
        );
        for d in &own {
            assert!(
                DECISIONS.contains(d),
                "`{}`: unknown decision `{d}`",
                k.name
            );
            assert_ne!(*d, "error", "`{}` failed on a benign request", k.name);
        }
    }
}

/// Models that work, except on an input containing [`BREAK`]; each such
/// failure is counted, so a test knows whether a layer met one.
#[derive(Default)]
struct FailingResolver {
    failures: Arc<AtomicUsize>,
}

fn breaks(text: &str, failures: &AtomicUsize) -> bool {
    let hit = text.contains(BREAK);
    if hit {
        failures.fetch_add(1, Ordering::SeqCst);
    }
    hit
}

struct FailingEmbedder(Arc<AtomicUsize>);

impl Embedder for FailingEmbedder {
    fn name(&self) -> &str {
        "failing"
    }
    fn dim(&self) -> usize {
        BowEmbedder.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.iter().any(|t| breaks(t, &self.0)) {
            return Err(EmbedError("embedding model crashed".into()));
        }
        BowEmbedder.embed(texts)
    }
}

struct FailingScorer(Arc<AtomicUsize>);

impl PairScorer for FailingScorer {
    fn name(&self) -> &str {
        "failing"
    }
    fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, EmbedError> {
        if pairs
            .iter()
            .any(|(a, b)| breaks(a, &self.0) || breaks(b, &self.0))
        {
            return Err(EmbedError("scoring model crashed".into()));
        }
        KeywordScorer.score(pairs)
    }
}

/// A second model (the detoxifier) that fails on [`BREAK`].
struct FailingTarget {
    info: TargetInfo,
    failures: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Target for FailingTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        if breaks(&req.prompt_text(), &self.failures) {
            return Err(TargetError::new(TargetErrorKind::Server, "model crashed"));
        }
        Ok(Response::text(req.prompt_text()))
    }
}

impl mmsafe_guard::Resolver for FailingResolver {
    fn ocr(&self) -> Result<Arc<dyn Ocr>, String> {
        Ok(Arc::new(ScriptedOcr {
            fail: true,
            ..ScriptedOcr::default()
        }))
    }
    fn embedder(&self) -> Result<Arc<dyn Embedder>, String> {
        Ok(Arc::new(FailingEmbedder(self.failures.clone())))
    }
    fn target(&self, spec: &str) -> Result<mmsafe_core::DynTarget, String> {
        Ok(Arc::new(FailingTarget {
            info: TargetInfo {
                spec: spec.into(),
                model: "failing".into(),
                accepts_images: true,
            },
            failures: self.failures.clone(),
        }))
    }
    fn judge(&self, spec: &str) -> Result<mmsafe_core::DynJudge, String> {
        Err(format!("no judges in tests (`{spec}`)"))
    }
    fn harm_scorer(&self, _: Option<&str>) -> Result<Arc<dyn PairScorer>, String> {
        Ok(Arc::new(FailingScorer(self.failures.clone())))
    }
}

/// A layer whose model fails says `error` (fail-open) or fails the request
/// (fail-closed); it never lets the request through as if it had looked.
#[tokio::test]
async fn a_failing_model_is_an_error_never_a_pass_or_rewrite() {
    let req = || Request::new(vec![Message::user_text(format!("{BENIGN} {BREAK}"))]);
    let mut met_a_failure = Vec::new();
    for k in LAYERS {
        for fail_open in [true, false] {
            let text = format!("fail_open = {fail_open}\n{}", policy_of(k.name, k.example));
            let resolver = FailingResolver::default();
            let guard = Policy::parse(&text, "table.toml", "table", None)
                .unwrap()
                .compile(&resolver)
                .unwrap_or_else(|e| panic!("`{}`: {e}", k.name));
            let result = guard.layer(Recorder::echo()).call(req()).await;
            if resolver.failures.load(Ordering::SeqCst) == 0 {
                // This kind uses no model on a text request: nothing to fail.
                continue;
            }
            met_a_failure.push(k.name);
            if fail_open {
                let resp = result.unwrap_or_else(|e| panic!("`{}` fail-open: {e}", k.name));
                // Every error is reported under the policy's layer, never
                // under the model inside it (a classifier's `embedding:…`),
                // so headers and metrics name something the policy has.
                let errors: Vec<_> = resp
                    .events
                    .iter()
                    .filter(|e| e.decision == "error")
                    .collect();
                assert!(
                    errors.iter().all(|e| e.layer == k.name),
                    "`{}`: an error named another layer: {errors:?}",
                    k.name
                );
                let looked = resp.events.iter().any(|e| {
                    e.layer == k.name && matches!(e.decision.as_str(), "pass" | "rewrite")
                });
                assert!(
                    !errors.is_empty() && !looked,
                    "`{}`: a model failure was recorded as {:?}",
                    k.name,
                    resp.events
                );
            } else {
                let err = result.err().unwrap_or_else(|| {
                    panic!(
                        "`{}` fail-closed: a model failure let the request through",
                        k.name
                    )
                });
                assert_eq!(err.kind, TargetErrorKind::Guard, "`{}`: {err}", k.name);
            }
        }
    }
    // The test is only worth something if the model-backed kinds meet the
    // failure; these are the ones that read a text request with a model.
    for kind in [
        "prompt:adaptive",
        "classify:input",
        "classify:output",
        "jailguard",
    ] {
        assert!(
            met_a_failure.contains(&kind),
            "`{kind}` never met the failing model: {met_a_failure:?}"
        );
    }
}
