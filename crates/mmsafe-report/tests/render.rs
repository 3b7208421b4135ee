//! Snapshot-style checks of the renderers on small hand-built runs.

use mmsafe_core::{Expect, Hazard, Label, Usage};
use mmsafe_metrics::{mcnemar, summarize, JudgeCalibration, Observation, Summary, SummaryOptions};
use mmsafe_report::{render_diff, render_diff_json, render_json, render_markdown, render_terminal};

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

/// 10 hate cases × {none, figstep} plus 5 benign, with fixed outcomes:
/// none: 1/10 complied; figstep: 6/10 complied, 1 timeout; benign: 1/5 refused.
fn run() -> Vec<Observation> {
    let mut v = Vec::new();
    for i in 0..10 {
        let c = format!("h{i}");
        let l = if i == 0 {
            Label::Complied
        } else {
            Label::Refused
        };
        v.push(obs(&c, Hazard::Hate, Expect::Refuse, "none", l));
        let mut f = obs(&c, Hazard::Hate, Expect::Refuse, "figstep", Label::Refused);
        if i < 6 {
            f.label = Label::Complied;
        } else if i == 9 {
            f.label = Label::Error;
            f.error_kind = Some("timeout".into());
        }
        v.push(f);
    }
    for i in 0..5 {
        let l = if i == 0 {
            Label::Refused
        } else {
            Label::Complied
        };
        v.push(obs(
            &format!("b{i}"),
            Hazard::Benign,
            Expect::Comply,
            "none",
            l,
        ));
    }
    v
}

fn summary() -> Summary {
    summarize("r-test", &run(), &SummaryOptions::default())
}

/// Compare with `tests/golden/<name>`; `MMSAFE_BLESS=1` rewrites the file
/// after a deliberate format change (review the diff before committing).
fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MMSAFE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
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

fn defended_summary() -> Summary {
    let mut v = run();
    // Same attempts behind a defense that refuses everything, 15 ms slower.
    let defended: Vec<Observation> = run()
        .into_iter()
        .map(|mut o| {
            o.defense = "strict".into();
            if o.error_kind.is_none() {
                o.label = Label::Refused;
            }
            o.latency_ms += 15.0;
            o.guard_extra_calls = 1;
            o
        })
        .collect();
    v.extend(defended);
    let mut opts = SummaryOptions::default();
    opts.calibration.insert(
        "refusal".into(),
        JudgeCalibration {
            sensitivity: 0.9,
            specificity: 0.95,
        },
    );
    summarize("r-def", &v, &opts)
}

#[test]
fn golden_files() {
    golden("terminal.txt", &render_terminal(&summary()));
    golden("report.md", &render_markdown(&summary()));
    golden("defended.txt", &render_terminal(&defended_summary()));
    golden("defended.md", &render_markdown(&defended_summary()));
}

#[test]
fn terminal_snapshot() {
    let text = render_terminal(&summary());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "run r-test · judge refusal · 25 attempts");
    // Overall: ASR 7/19, refusal 12/19, over-refusal 1/5, errors 1/25.
    assert_eq!(
        lines[2],
        "            n  ASR                 refusal             over-refusal       undecided  errors"
    );
    assert_eq!(
        lines[3],
        "overall    25   36.8% [19.1–59.0]   63.2% [41.0–80.9]   20.0% [3.6–62.4]       0.0%    4.0%"
    );
    assert_eq!(lines[4], "by hazard");
    assert!(text.contains(
        "\n  figstep  10   66.7% [35.4–87.9]   33.3% [12.1–64.6]     n/a                  0.0%   10.0%\n"
    ));
    assert!(text.contains("harmful attempts: 20 (12 refused, 7 complied, 0 undecided, 1 error)\n"));
    assert!(text.contains("benign attempts: 5 (1 refused, 4 complied, 0 undecided, 0 error)\n"));
    assert!(!text.contains("safety–utility"));
    assert!(!text.contains("by defense"));
}

#[test]
fn markdown_snapshot() {
    let md = render_markdown(&summary());
    assert!(md.starts_with("# mmsafe report\n\nrun r-test · judge refusal · 25 attempts\n"));
    assert!(md.contains(
        "|  | n | ASR | refusal | over-refusal | undecided | errors |\n|---|---:|---|---|---|---:|---:|\n"
    ));
    assert!(md.contains("| attack | n | ASR |"));
    assert!(md.contains(
        "| **overall** | 25 | 36.8% [19.1–59.0] | 63.2% [41.0–80.9] | 20.0% [3.6–62.4] | 0.0% | 4.0% |\n"
    ));
    assert!(md.contains("\n## By attack\n"));
    assert!(md.contains("| none | 15 | 10.0% [1.8–40.4] |"));
}

#[test]
fn json_matches_the_summary() {
    let s = summary();
    let v = render_json(&s);
    assert_eq!(v["run_id"], "r-test");
    assert_eq!(v["attempts"], 25);
    assert_eq!(v["by_attack"]["figstep"]["n"], 10);
    assert_eq!(serde_json::from_value::<Summary>(v).unwrap(), s);
}

#[test]
fn extras_and_safety_utility_are_rendered_when_present() {
    let s = defended_summary();
    let text = render_terminal(&s);
    assert!(text.contains("\nby defense\n"), "{text}");
    assert!(text.contains("corrected ASR: "));
    assert!(text.contains("safety–utility (differences vs none)\n"));
    let su_header = text
        .lines()
        .find(|l| l.starts_with("defense"))
        .unwrap_or_default();
    assert!(su_header.contains("ASR reduction") && su_header.contains("latency p95"));
    let strict = text
        .lines()
        .find(|l| l.starts_with("strict"))
        .unwrap_or_default();
    // ASR 7/19 → 0: reduction of 36.8 points; over-refusal 20% → 100%.
    assert!(strict.contains("+36.8 pp ["), "{strict}");
    assert!(strict.contains("+80.0 pp ["), "{strict}");
    assert!(strict.contains("+15.0 ms"), "{strict}");
    assert!(strict.contains("1.00"), "{strict}");
    let md = render_markdown(&s);
    assert!(md.contains("\n## Safety–utility\n"));
}

#[test]
fn diff_snapshot() {
    let a = run();
    let mut b = run();
    // B: the figstep attack succeeds on every decided case.
    for o in b
        .iter_mut()
        .filter(|o| o.attack == "figstep" && o.error_kind.is_none())
    {
        o.label = Label::Complied;
    }
    let (sa, sb) = (
        summarize("A1", &a, &SummaryOptions::default()),
        summarize("B1", &b, &SummaryOptions::default()),
    );
    let m = mcnemar(&a, &b);
    let text = render_diff(&m, &sa, &sb);
    golden("diff.txt", &text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "runs diff · A = A1 · B = B1 · judge refusal");
    assert!(
        text.contains("  succeeded only in A: 0 · only in B: 3 · both: 7 · neither: 9\n"),
        "{text}"
    );
    assert!(text.contains("  exact p = 0.2500\n"), "{text}");
    assert!(
        text.contains("paired ASR: A 36.8% → B 52.6% (+15.8 pp)"),
        "{text}"
    );
    let j = render_diff_json(&m, &sa, &sb);
    assert_eq!(j["mcnemar"]["b01"], 3);
    assert_eq!(j["a"]["run_id"], "A1");
}
