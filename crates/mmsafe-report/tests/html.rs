//! The self-contained HTML report: golden files, escaping, determinism, no
//! external references, and (where Chromium is installed) a real render.

mod common;

use common::{chromium, run_with_limit};
use mmsafe_core::{Expect, Hazard, Label, Usage};
use mmsafe_metrics::{summarize, JudgeCalibration, Observation, Summary, SummaryOptions};
use mmsafe_report::render_html;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SCRIPT_ATTACK: &str = "<script>alert(\"x\")</script>&'";

fn obs(case: &str, hazard: Hazard, expect: Expect, attack: &str, label: Label) -> Observation {
    Observation {
        case_id: format!("{case}/{attack}"),
        base_case_id: case.to_string(),
        hazard,
        expect,
        attack: attack.to_string(),
        defense: "none".to_string(),
        repeat: 0,
        judge: "refusal".to_string(),
        label,
        error_kind: None,
        score: None,
        latency_ms: 100.0,
        usage: Usage::default(),
        guard_ms: 0.0,
        guard_extra_calls: 0,
        guard_extra_tokens: 0,
        pair_id: None,
    }
}

/// Harmful cases in two hazards under three attacks (one with a hostile
/// name), benign look-alikes with a counterfactual pair, and judge scores.
fn undefended() -> Vec<Observation> {
    let mut v = Vec::new();
    for i in 0..12u32 {
        let hazard = if i % 2 == 0 {
            Hazard::Hate
        } else {
            Hazard::ViolentCrimes
        };
        let c = format!("h{i}");
        let mut o = obs(&c, hazard, Expect::Refuse, "none", Label::Refused);
        if i < 2 {
            o.label = Label::Complied;
        }
        o.score = Some(if i < 2 { 0.8 } else { 0.05 });
        v.push(o);
        let mut f = obs(&c, hazard, Expect::Refuse, "figstep", Label::Refused);
        if i < 7 {
            f.label = Label::Complied;
        } else if i == 11 {
            f.label = Label::Error;
            f.error_kind = Some("timeout".into());
        } else if i == 10 {
            f.label = Label::Undecided;
        }
        f.score = Some(if i < 7 { 0.9 } else { 0.1 });
        v.push(f);
        let mut x = obs(&c, hazard, Expect::Refuse, SCRIPT_ATTACK, Label::Refused);
        if i < 4 {
            x.label = Label::Complied;
        }
        v.push(x);
    }
    for i in 0..6u32 {
        let mut b = obs(
            &format!("b{i}"),
            Hazard::Benign,
            Expect::Comply,
            "none",
            if i == 0 {
                Label::Refused
            } else {
                Label::Complied
            },
        );
        if i < 2 {
            b.pair_id = Some("pair-0".into());
        }
        v.push(b);
    }
    v
}

fn defended_summary() -> Summary {
    let mut v = undefended();
    let strict: Vec<Observation> = undefended()
        .into_iter()
        .map(|mut o| {
            o.defense = "strict-ocr".into();
            if o.error_kind.is_none() && o.expect == Expect::Refuse {
                o.label = Label::Refused;
            }
            if o.expect == Expect::Comply && o.base_case_id == "b1" {
                o.label = Label::Refused;
            }
            o.latency_ms += 42.0;
            o.guard_extra_calls = 1;
            o.guard_extra_tokens = 120;
            o
        })
        .collect();
    v.extend(strict);
    let mut opts = SummaryOptions::default();
    opts.calibration.insert(
        "refusal".into(),
        JudgeCalibration {
            sensitivity: 0.9,
            specificity: 0.95,
        },
    );
    summarize("r-def \"q&a\" <b>", &v, &opts)
}

fn empty_summary() -> Summary {
    summarize("r-empty", &[], &SummaryOptions::default())
}

/// Only harmful cases: over-refusal has no denominator and must read `n/a`.
fn harmful_only_summary() -> Summary {
    let v: Vec<Observation> = undefended()
        .into_iter()
        .filter(|o| o.expect == Expect::Refuse && o.attack != SCRIPT_ATTACK)
        .collect();
    summarize("r-harmful", &v, &SummaryOptions::default())
}

/// Compare with `tests/golden/<name>`; `MMSAFE_BLESS=1` rewrites the file.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MMSAFE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with MMSAFE_BLESS=1 to create)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{} differs", path.display());
}

#[test]
fn golden_html() {
    golden("html-empty.html", &render_html(&empty_summary()));
    golden("html-defended.html", &render_html(&defended_summary()));
    golden(
        "html-harmful-only.html",
        &render_html(&harmful_only_summary()),
    );
}

#[test]
fn hostile_names_are_escaped() {
    let html = render_html(&defended_summary());
    assert!(!html.contains("<script"), "raw script tag in output");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    assert!(html.contains("<title>mmsafe report — run r-def &quot;q&amp;a&quot; &lt;b&gt;</title>"));
    assert!(!html.contains("<b>"));
}

#[test]
fn same_summary_same_bytes() {
    for s in [empty_summary(), defended_summary(), harmful_only_summary()] {
        assert_eq!(render_html(&s), render_html(&s));
    }
    // Summaries are themselves deterministic (seeded bootstrap), so a run
    // re-rendered from the store gives an identical file.
    assert_eq!(
        render_html(&defended_summary()),
        render_html(&defended_summary())
    );
}

#[test]
fn self_contained() {
    for s in [empty_summary(), defended_summary(), harmful_only_summary()] {
        let html = render_html(&s);
        let lower = html.to_lowercase();
        for banned in [
            "http://",
            "https://",
            "<script",
            "<link",
            "<img",
            "<iframe",
            "@import",
            "url(",
            " src=",
            " href=",
            "@font-face",
        ] {
            assert!(!lower.contains(banned), "{}: {banned}", s.run_id);
        }
        assert!(html.starts_with("<!DOCTYPE html>\n"));
        assert!(html.ends_with("</html>\n"));
        assert!(html.contains("Content-Security-Policy"));
        assert!(html.contains("<h2>Definitions</h2>"));
        assert!(html.contains("complied ÷ (refused + complied) on harmful cases"));
    }
}

#[test]
fn accessible_structure() {
    let html = render_html(&defended_summary());
    // Every chart is labelled and every table has header cells with a scope.
    let charts = html.matches("<svg class=\"chart\"").count();
    assert_eq!(charts, 3, "hazard, attack and defense charts");
    assert_eq!(html.matches("role=\"img\"").count(), charts);
    assert!(html.matches("<title").count() > charts);
    assert_eq!(html.matches("<th>").count(), 0, "every <th> has a scope");
    assert!(html.contains("<th scope=\"col\">"));
    assert!(html.contains("<th scope=\"row\""));
    assert_eq!(
        html.matches("<table").count(),
        html.matches("<caption>").count()
    );
}

#[test]
fn defended_run_shows_trade_off_and_extras() {
    let s = defended_summary();
    assert!(s.safety_utility.is_some());
    let html = render_html(&s);
    assert!(html.contains("<h2>Safety–utility trade-off</h2>"));
    assert!(html.contains("<th scope=\"col\" class=\"r\">latency p95</th>"));
    assert!(html.contains("+42.0 ms"), "added latency");
    assert!(html.contains("<h2>By defense</h2>"));
    assert!(html.contains("Corrected ASR"));
    assert!(html.contains("StrongREJECT mean harm score"));
    assert!(html.contains("Fairness divergence"));
    // A strict defense refusing every harmful case draws a zero-width bar.
    assert!(html.contains("defense strict-ocr: ASR 0.0% ["));
}

#[test]
fn empty_run_renders_without_charts() {
    let html = render_html(&empty_summary());
    assert!(html.contains("This run has no judged attempts"));
    assert!(!html.contains("<svg"));
    assert!(!html.contains("Safety–utility"));
    assert!(html.contains("judge <strong>none</strong>"));
}

#[test]
fn null_over_refusal_reads_na() {
    let s = harmful_only_summary();
    assert_eq!(s.over_refusal_rate, None);
    let html = render_html(&s);
    assert!(html.contains(
        "<dt>Over-refusal rate</dt><dd>n/a<small>no interval</small><small>no decided benign attempts</small></dd>"
    ));
    assert!(!html.contains("Safety–utility"));
    assert!(!html.contains("Further figures") || s.strongreject_mean.is_some());
}

/// Render a report in a real browser and check the screenshot is a page,
/// not a blank or an error tile. Skips when Chromium is not installed.
#[test]
fn renders_in_headless_chromium() {
    let browser = match chromium() {
        Ok(p) => p,
        Err(p) => {
            eprintln!(
                "skipped: {} not found (install chromium or set MMSAFE_CHROMIUM)",
                p.display()
            );
            return;
        }
    };
    // Kept under the target dir so the screenshots can be looked at after a run.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mmsafe-report-html");
    std::fs::create_dir_all(&out_dir).unwrap();
    for (name, s) in [("defended", defended_summary()), ("empty", empty_summary())] {
        let html_path = out_dir.join(format!("{name}.html"));
        let png_path = out_dir.join(format!("{name}.png"));
        std::fs::write(&html_path, render_html(&s)).unwrap();
        let _ = std::fs::remove_file(&png_path);
        let profile = tempfile::tempdir().unwrap();
        let ok = run_with_limit(
            Command::new(&browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(format!("--screenshot={}", png_path.display()))
                .arg("--window-size=1200,1600")
                .arg(format!("file://{}", html_path.display())),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ok, "{name}: chromium exited with failure");
        let img = image::open(&png_path)
            .unwrap_or_else(|e| panic!("{}: {e}", png_path.display()))
            .to_rgb8();
        assert_eq!(img.dimensions(), (1200, 1600), "{name}");
        let first = *img.get_pixel(0, 0);
        let differing = img.pixels().filter(|p| **p != first).count();
        let share = differing as f64 / (1200.0 * 1600.0);
        // Text and bars cover a few percent of a page; a uniform or
        // near-empty capture means the page did not render.
        assert!(share > 0.005, "{name}: only {share:.4} of pixels differ");
        if name == "defended" {
            // The bars' blue must be on the page: the charts were drawn.
            let blue = img
                .pixels()
                .filter(|p| p[2] > 150 && p[0] < 80 && p[1] > 80 && p[1] < 130)
                .count();
            assert!(blue > 1000, "{name}: no chart bars found ({blue} px)");
        }
        eprintln!("{name}: screenshot {}", png_path.display());
    }
}
