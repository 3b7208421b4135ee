use crate::support::*;
use mmsafe_core::{Layer, Message, Part, Request};
use mmsafe_guard::{Policy, PRESETS};
use std::sync::Arc;

fn resolver() -> TestResolver {
    TestResolver {
        ocr: Arc::new(ScriptedOcr::default()),
    }
}

#[test]
fn presets_parse_and_compile() {
    for (name, _) in PRESETS {
        let p = Policy::load(name).unwrap();
        assert_eq!(&p.name, name);
        let g = p.compile(&resolver()).unwrap();
        assert!(!g.layers().is_empty());
    }
}

#[test]
fn policy_errors_name_the_place() {
    let e = Policy::parse("[[layer]]\nkind = \"ocrr\"\n", "p.toml", "p", None).unwrap_err();
    assert!(
        e.to_string()
            .contains("layer 1: unknown kind `ocrr` (did you mean `ocr`?)"),
        "{e}"
    );

    let p = Policy::parse(
        "[[layer]]\nkind = \"purify\"\njpeg = 3\n",
        "p.toml",
        "p",
        None,
    )
    .unwrap();
    let e = p.compile(&resolver()).err().unwrap();
    assert!(
        e.to_string()
            .contains("layer 1 (purify): unknown field `jpeg`"),
        "{e}"
    );

    let p = Policy::parse(
        "[[layer]]\nkind = \"classify:input\"\nclassifier = \"llamaguard:openai-compatible:http://127.0.0.1:1/v1#lg\"\n",
        "p.toml",
        "p",
        None,
    )
    .unwrap();
    let e = p.compile(&resolver()).err().unwrap();
    assert!(e.to_string().contains("no targets in tests"), "{e}");

    let e = Policy::load("no-such-policy").unwrap_err();
    assert!(
        e.to_string()
            .contains("presets: permissive, balanced, strict"),
        "{e}"
    );
}

#[tokio::test]
async fn guard_check_reports_each_layer_and_stops_at_block() {
    let img = photo(100, 100);
    let mut ocr = ScriptedOcr::default();
    ocr.lines.insert(
        img.sha256().into(),
        vec![
            line("Methods to do something.", 5),
            line("1.", 40),
            line("2.", 80),
        ],
    );
    let r = TestResolver { ocr: Arc::new(ocr) };
    let p = Policy::parse(
        "[[layer]]\nkind = \"prompt:static\"\n[[layer]]\nkind = \"ocr\"\non_harmful = \"allow\"\n[[layer]]\nkind = \"ecso\"\n",
        "p.toml",
        "p",
        None,
    )
    .unwrap();
    let g = p.compile(&r).unwrap();
    let req = Request::new(vec![Message::user(vec![
        Part::image(img),
        Part::text("go"),
    ])]);
    let rep = g.check_request(&req).await.unwrap();
    assert_eq!(rep.decision, "block");
    let names: Vec<(&str, &str)> = rep
        .layers
        .iter()
        .map(|s| (s.name.as_str(), s.decision.as_str()))
        .collect();
    assert_eq!(names, [("prompt:static", "rewrite"), ("ocr", "block")]);

    let rep = g
        .check_request(&Request::new(vec![Message::user_text("hello")]))
        .await
        .unwrap();
    assert_eq!(rep.decision, "rewrite");
    assert_eq!(rep.layers[2].decision, "skipped");

    // The compiled guard is one layer around any target.
    let t = Recorder::echo();
    let out = g.layer(t.clone()).call(req).await.unwrap();
    assert_eq!(out.finish_reason, mmsafe_core::FinishReason::GuardBlocked);
    assert_eq!(t.calls(), 0);
}

/// Offline, without the OCR model: only a guard-model target.
struct NoOcrResolver {
    guard: Arc<Recorder>,
}

impl mmsafe_guard::Resolver for NoOcrResolver {
    fn ocr(&self) -> Result<Arc<dyn mmsafe_core::Ocr>, String> {
        Err("OCR model missing: run `mmsafe models pull ppocr-v5-mobile`".into())
    }
    fn embedder(&self) -> Result<Arc<dyn mmsafe_core::Embedder>, String> {
        Err("no embedder".into())
    }
    fn target(&self, _: &str) -> Result<mmsafe_core::DynTarget, String> {
        Ok(self.guard.clone())
    }
    fn judge(&self, spec: &str) -> Result<mmsafe_core::DynJudge, String> {
        Err(format!("no judges in tests (`{spec}`)"))
    }
}

#[tokio::test]
async fn llamaguard_input_check_needs_no_ocr_model_for_text_only_requests() {
    let r = NoOcrResolver {
        guard: Recorder::new(|_| "safe".into()),
    };
    let p = Policy::parse(
        "[[layer]]\nkind = \"classify:input\"\nclassifier = \"llamaguard:test\"\n",
        "p.toml",
        "p",
        None,
    )
    .unwrap();
    let g = p.compile(&r).unwrap();
    let rep = g
        .check_request(&Request::new(vec![Message::user_text("hello")]))
        .await
        .unwrap();
    assert_eq!(rep.decision, "allow");
    assert_eq!(r.guard.calls(), 1);

    // An image request needs the OCR text: it fails, naming the model to pull.
    let req = Request::new(vec![Message::user(vec![
        Part::image(photo(20, 20)),
        Part::text("what is this"),
    ])]);
    let e = g.check_request(&req).await.unwrap_err();
    assert!(e.to_string().contains("mmsafe models pull"), "{e}");

    // The `ocr` layer itself still needs the model at compile time.
    let p = Policy::parse(
        "[[layer]]\nkind = \"ocr\"\non_harmful = \"allow\"\n",
        "p.toml",
        "p",
        None,
    )
    .unwrap();
    let e = p.compile(&r).err().unwrap();
    assert!(e.to_string().contains("mmsafe models pull"), "{e}");
}
