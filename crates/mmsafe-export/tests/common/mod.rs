//! A small run store built through the store API, shared by the library tests
//! and the CLI tests (`#[path]`-included there). All text is placeholder.
//!
//! Run `undefended` (judge `refusal`, plus `llm` on one attempt) and run
//! `defended` (judge `refusal`, guard layer `ocr`):
//!
//! | case | expect | undefended | defended |
//! |---|---|---|---|
//! | h1 (image A) | refuse | refused | |
//! | h1~figstep (image B) | refuse | complied ×2 (repeats, same text) | guard-blocked refusal |
//! | h2 (self-harm, text) | refuse | complied | |
//! | h3 | refuse | undecided | |
//! | h4 | refuse | target error | |
//! | h5 (hate) | refuse | refusal=complied, llm=refused | |
//! | b1 (image C) | comply | complied | |
//! | b2 | comply | refused | complied |
//! | b3 | comply | refused | |
//! | b4 | comply | complied, cut off at the token limit | refused |
#![allow(dead_code)]

use mmsafe_core::{
    Case, Expect, FinishReason, Hazard, Image, Label, Message, Part, Response, TargetErrorKind,
    Verdict,
};
use mmsafe_store::{
    attempt_key, AttemptError, NewAttempt, NewCase, NewRun, Plan, RequestSummary, Store,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub struct Fixture {
    pub undefended: String,
    pub defended: String,
    pub images: [Image; 3],
}

impl Fixture {
    /// Attempt key of `case` in a run of this fixture.
    pub fn key(&self, run: &str, case: &str, attack: &str, defense: &str, repeat: u32) -> String {
        attempt_key(run, case, attack, defense, repeat)
    }
}

/// A real 4×4 PNG whose pixels depend on `shade`.
pub fn png(shade: u8) -> Image {
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([shade, 255 - shade, 7]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    Image::sniff(bytes.into_inner()).unwrap()
}

fn plan(judges: &[&str]) -> Plan {
    Plan {
        target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
        suites: vec!["test".into()],
        attacks: vec!["none".into(), "figstep".into()],
        defenses: vec!["none".into()],
        judges: judges.iter().map(|s| s.to_string()).collect(),
        repeats: 2,
        max_tokens: Some(64),
        options: Default::default(),
    }
}

fn case(id: &str, hazard: Hazard, expect: Expect, image: Option<&Image>) -> Case {
    let mut c = Case::text(
        id,
        format!("PLACEHOLDER prompt {id}"),
        hazard,
        expect,
        "test",
    );
    if let Some(img) = image {
        c.messages[0].content.push(Part::image(img.clone()));
    }
    c
}

fn figstep(parent: &Case, img: &Image) -> Case {
    parent.derive(
        "figstep",
        &BTreeMap::new(),
        1,
        None,
        vec![Message::user(vec![
            Part::image(img.clone()),
            Part::text("PLACEHOLDER figstep instruction"),
        ])],
    )
}

struct Builder<'a> {
    run: &'a str,
    cases: Vec<NewCase>,
    attempts: Vec<NewAttempt>,
}

impl Builder<'_> {
    fn add(
        &mut self,
        case: &Case,
        defense: &str,
        repeat: u32,
        outcome: Result<Response, AttemptError>,
        verdicts: &[(&str, Label)],
    ) {
        let attack = case.attack_chain();
        if !self
            .cases
            .iter()
            .any(|c| c.case.id == case.id && c.attack == attack)
        {
            self.cases.push(NewCase {
                attack: attack.clone(),
                case: Arc::new(case.clone()),
            });
        }
        self.attempts.push(NewAttempt {
            key: attempt_key(self.run, &case.id, &attack, defense, repeat),
            case_id: case.id.clone(),
            attack,
            defense: defense.into(),
            repeat,
            request: RequestSummary {
                max_tokens: Some(64),
                temperature: Some(0.0),
                seed: None,
                target: "t".into(),
            },
            outcome,
            verdicts: verdicts
                .iter()
                .map(|(j, l)| Verdict::new(*j, *l, "test"))
                .collect(),
        });
    }
}

fn say(text: &str) -> Result<Response, AttemptError> {
    Ok(Response::text(text))
}

fn finish(text: &str, reason: FinishReason) -> Result<Response, AttemptError> {
    let mut r = Response::text(text);
    r.finish_reason = reason;
    Ok(r)
}

const R: Label = Label::Refused;
const C: Label = Label::Complied;

/// Build the fixture store at `path`.
pub fn build(path: &Path) -> Fixture {
    let mut store = Store::open(path).unwrap();
    let images = [png(10), png(120), png(230)];
    let new_run = |store: &mut Store, name: &str, judges: &[&str]| {
        store
            .create_run(&NewRun {
                name: Some(name.into()),
                plan: plan(judges),
                seed: 7,
                versions: BTreeMap::new(),
            })
            .unwrap()
            .id
    };
    let undefended = new_run(&mut store, "undefended", &["refusal"]);
    let defended = new_run(&mut store, "defended", &["refusal"]);

    let h1 = case(
        "h1",
        Hazard::ViolentCrimes,
        Expect::Refuse,
        Some(&images[0]),
    );
    let h1f = figstep(&h1, &images[1]);
    let h2 = case("h2", Hazard::SuicideSelfHarm, Expect::Refuse, None);
    let h3 = case("h3", Hazard::Privacy, Expect::Refuse, None);
    let h4 = case("h4", Hazard::Privacy, Expect::Refuse, None);
    let h5 = case("h5", Hazard::Hate, Expect::Refuse, None);
    let b1 = case("b1", Hazard::Benign, Expect::Comply, Some(&images[2]));
    let b2 = case("b2", Hazard::Benign, Expect::Comply, None);
    let b3 = case("b3", Hazard::Benign, Expect::Comply, None);
    let b4 = case("b4", Hazard::Benign, Expect::Comply, None);

    let mut u = Builder {
        run: &undefended,
        cases: Vec::new(),
        attempts: Vec::new(),
    };
    u.add(
        &h1,
        "none",
        0,
        say("REFUSAL h1 undefended"),
        &[("refusal", R)],
    );
    u.add(
        &h1f,
        "none",
        0,
        say("COMPLIED h1~figstep"),
        &[("refusal", C)],
    );
    u.add(
        &h1f,
        "none",
        1,
        say("COMPLIED h1~figstep"),
        &[("refusal", C)],
    );
    u.add(&h2, "none", 0, say("COMPLIED h2"), &[("refusal", C)]);
    u.add(
        &h3,
        "none",
        0,
        say("UNCLEAR h3"),
        &[("refusal", Label::Undecided)],
    );
    u.add(
        &h4,
        "none",
        0,
        Err(AttemptError::new(
            TargetErrorKind::Timeout,
            "timed out",
            2,
            10.0,
        )),
        &[("refusal", Label::Error)],
    );
    u.add(
        &h5,
        "none",
        0,
        say("COMPLIED h5"),
        &[("refusal", C), ("llm", R)],
    );
    u.add(&b1, "none", 0, say("ANSWER b1"), &[("refusal", C)]);
    u.add(&b2, "none", 0, say("REFUSAL b2"), &[("refusal", R)]);
    u.add(&b3, "none", 0, say("REFUSAL b3"), &[("refusal", R)]);
    u.add(
        &b4,
        "none",
        0,
        finish("ANSWER b4 cut", FinishReason::Length),
        &[("refusal", C)],
    );
    store.put_batch(&undefended, &u.cases, &u.attempts).unwrap();

    let mut d = Builder {
        run: &defended,
        cases: Vec::new(),
        attempts: Vec::new(),
    };
    d.add(
        &h1f,
        "ocr",
        0,
        finish("GUARD BLOCK h1~figstep", FinishReason::GuardBlocked),
        &[("refusal", R)],
    );
    d.add(&b2, "ocr", 0, say("ANSWER b2 defended"), &[("refusal", C)]);
    d.add(&b4, "ocr", 0, say("REFUSAL b4"), &[("refusal", R)]);
    store.put_batch(&defended, &d.cases, &d.attempts).unwrap();

    Fixture {
        undefended,
        defended,
        images,
    }
}
