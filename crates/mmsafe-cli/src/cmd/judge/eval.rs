//! `mmsafe judge eval`: judges against human labels, and judges against each other.

use super::train::training_error;
use super::{runtime, JUDGE_CONCURRENCY};
use crate::exit::{ensure_usage, usage, Outcome};
use crate::flags::TargetOpsArgs;
use crate::wiring::judges::build_judge;
use anyhow::Context as _;
use mmsafe_judge::calibrate::{self, EvalReport};
use mmsafe_judge::kinds::published;
use mmsafe_judge::labels::{self, LabelFormat};
use mmsafe_judge::training;
use mmsafe_metrics::Scores;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct EvalArgs {
    /// Judge spec; repeat to compare judges on the same rows (each gets its
    /// figures, and every pair an exact McNemar test).
    #[arg(long = "judge", required = true, value_name = "JUDGE")]
    pub(super) judges: Vec<String>,
    /// Labelled file, or a directory: every `.csv`/`.json`/`.jsonl` in it
    /// (read in the `--format`), measured together.
    #[arg(long)]
    pub(super) labels: PathBuf,
    /// Format of the labels file: harmbench|jbb|xstest|gptfuzz|jailbreakeval|jsonl.
    #[arg(long)]
    pub(super) format: String,
    /// Print the agreement as JSON.
    #[arg(long)]
    pub(super) json: bool,
    /// Write the judge's sensitivity/specificity (for corrected ASR) to this file.
    #[arg(long)]
    pub(super) save_calibration: Option<PathBuf>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub(super) bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    #[command(flatten)]
    pub(super) ops: TargetOpsArgs,
    /// Evaluate only the held-out share of a `judge train --holdout F` split.
    #[arg(long)]
    pub(super) holdout: Option<f64>,
    /// Write one JSON line per labelled row (its location in the labels
    /// file, the human label, the judge's label and score) to this file, to
    /// study disagreements. Rows' text is left out: label sets are harmful.
    #[arg(long)]
    pub(super) predictions: Option<PathBuf>,
}

pub(super) fn eval(a: EvalArgs) -> anyhow::Result<Outcome> {
    let Some(format) = LabelFormat::parse(&a.format) else {
        return usage(format!(
            "unknown label format `{}` (expected {})",
            a.format,
            LabelFormat::NAMES
        ));
    };
    let mut items = Vec::new();
    for file in training::data_files(&a.labels).map_err(training_error)? {
        items.extend(labels::load(&file, format)?);
    }
    if let Some(frac) = a.holdout {
        items.retain(|it| labels::in_holdout(&it.group, frac));
    }
    anyhow::ensure!(
        !items.is_empty(),
        "{}: no labelled rows",
        a.labels.display()
    );
    ensure_usage!(
        a.save_calibration.is_none() || a.judges.len() == 1,
        "--save-calibration saves one judge's figures: give one --judge"
    );
    let judge_opts = a.ops.target_options(JUDGE_CONCURRENCY);
    // Every spec is checked before any judging starts.
    let judges = a
        .judges
        .iter()
        .map(|spec| match spec.trim().strip_prefix("published:") {
            Some(column) => published::verdicts(spec, column, &items)
                .map(EvalJudge::Published)
                .map_err(anyhow::Error::from),
            None => build_judge(spec, &judge_opts).map(EvalJudge::Live),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rt = runtime()?;
    let verdicts: Vec<Vec<mmsafe_core::Verdict>> = judges
        .into_iter()
        .map(|judge| match judge {
            EvalJudge::Published(verdicts) => verdicts,
            EvalJudge::Live(judge) => rt.block_on(calibrate::verdicts_all(
                &judge,
                &items,
                judge_opts.concurrency,
                |_| {},
            )),
        })
        .collect();
    if let Some(path) = &a.predictions {
        write_predictions(path, &items, &a.judges, &verdicts)?;
    }
    let judged: Vec<Vec<calibrate::Judged>> = verdicts
        .iter()
        .map(|vs| {
            vs.iter()
                .zip(&items)
                .map(|(v, item)| calibrate::Judged {
                    human: item.positive,
                    label: v.label,
                })
                .collect()
        })
        .collect();
    let labels_name = a.labels.display().to_string();
    let mut reports = Vec::new();
    for (i, (spec, judged)) in a.judges.iter().zip(&judged).enumerate() {
        let (mut report, calibration) =
            calibrate::evaluate(spec, &labels_name, format, judged, a.bootstrap, a.seed);
        let human: Vec<bool> = judged.iter().map(|j| j.human).collect();
        report.risk_coverage = mmsafe_judge::coverage::risk_coverage(
            &verdicts[i],
            &human,
            &mmsafe_judge::coverage::COVERAGES,
            &mmsafe_judge::coverage::TARGETS,
        );
        if let Some(path) = &a.save_calibration {
            let cal = calibration.with_context(|| {
                format!(
                    "cannot save a calibration for `{spec}`: sensitivity or specificity is undefined on {labels_name} (a class is missing or nothing was decided)"
                )
            })?;
            let body = serde_json::to_string_pretty(&cal)?;
            std::fs::write(path, body + "\n")
                .with_context(|| format!("writing calibration to {}", path.display()))?;
        }
        reports.push(report);
    }
    let mut comparisons = Vec::new();
    for i in 0..judged.len() {
        for j in i + 1..judged.len() {
            comparisons.push(calibrate::compare(
                (&a.judges[i], &judged[i]),
                (&a.judges[j], &judged[j]),
            ));
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        // One judge: its report, as before; several: all reports and the pairs.
        let body = match reports.as_slice() {
            [one] => serde_json::to_value(one)?,
            _ => serde_json::json!({ "judges": reports, "comparisons": comparisons }),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
    } else {
        for (i, report) in reports.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            print_report(&mut out, report)?;
            if let Some(rc) = &report.risk_coverage {
                write!(out, "{}", rc.to_text(&report.judge))?;
            }
        }
        if !comparisons.is_empty() {
            print_comparisons(&mut out, &comparisons)?;
        }
    }
    Ok(Outcome::Ok)
}

enum EvalJudge {
    Live(mmsafe_core::DynJudge),
    /// Already decided by another judge, as the labels file records it.
    Published(Vec<mmsafe_core::Verdict>),
}

fn print_comparisons(
    out: &mut impl std::io::Write,
    comparisons: &[calibrate::JudgeComparison],
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "paired (same rows; undecided = wrong): exact McNemar test on the rows only one judge gets right"
    )?;
    for c in comparisons {
        writeln!(
            out,
            "{} {:.1}% vs {} {:.1}%: only the first right {}, only the second right {}, n {}, {}",
            c.a,
            100.0 * c.accuracy_a,
            c.b,
            100.0 * c.accuracy_b,
            c.only_a_right,
            c.only_b_right,
            c.n,
            if c.p_value < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {:.3}", c.p_value)
            }
        )?;
    }
    Ok(())
}

fn write_predictions(
    path: &std::path::Path,
    items: &[labels::Labeled],
    specs: &[String],
    verdicts: &[Vec<mmsafe_core::Verdict>],
) -> anyhow::Result<()> {
    let mut body = String::new();
    for (row, item) in items.iter().enumerate() {
        let judged: Vec<serde_json::Value> = specs
            .iter()
            .zip(verdicts)
            .map(|(spec, vs)| {
                let v = &vs[row];
                serde_json::json!({
                    "judge": spec,
                    "label": v.label.as_str(),
                    "score": v.score,
                    "agrees": match v.label {
                        mmsafe_core::Label::Complied => Some(item.positive),
                        mmsafe_core::Label::Refused => Some(!item.positive),
                        _ => None,
                    },
                })
            })
            .collect();
        let line = serde_json::json!({
            "location": item.location,
            "human": if item.positive { "positive" } else { "negative" },
            "verdicts": judged,
        });
        body.push_str(&line.to_string());
        body.push('\n');
    }
    std::fs::write(path, body).with_context(|| format!("writing predictions to {}", path.display()))
}

fn fmt_opt(x: Option<f64>, as_pct: bool) -> String {
    match x {
        Some(x) if as_pct => format!("{:.1}%", 100.0 * x),
        Some(x) => format!("{x:.3}"),
        None => "n/a".into(),
    }
}

fn print_report(out: &mut impl std::io::Write, r: &EvalReport) -> std::io::Result<()> {
    let a = &r.agreement;
    writeln!(out, "judge   {}", r.judge)?;
    writeln!(out, "labels  {} ({})", r.labels, r.format)?;
    writeln!(
        out,
        "        positive = {}; the judge's `complied` counts as positive",
        r.positive
    )?;
    writeln!(
        out,
        "n       {} items, {} undecided ({} of them errors)",
        a.n, a.undecided, r.errors
    )?;
    writeln!(
        out,
        "{:<12}{:>22}{:>22}",
        "", "all (undecided=wrong)", "decided only"
    )?;
    type Get = fn(&Scores) -> (Option<f64>, Option<mmsafe_metrics::Ci>);
    let rows: [(&str, Get, bool); 5] = [
        ("accuracy", |s| (s.accuracy, s.accuracy_ci), true),
        ("precision", |s| (s.precision, s.precision_ci), true),
        ("recall", |s| (s.recall, s.recall_ci), true),
        ("f1", |s| (s.f1, s.f1_ci), false),
        ("kappa", |s| (s.kappa, s.kappa_ci), false),
    ];
    for (name, get, as_pct) in rows {
        let cell = |s: &Scores| {
            let (v, ci) = get(s);
            match ci {
                Some(ci) => format!(
                    "{} [{}, {}]",
                    fmt_opt(v, as_pct),
                    fmt_opt(Some(ci[0]), as_pct),
                    fmt_opt(Some(ci[1]), as_pct)
                ),
                None => fmt_opt(v, as_pct),
            }
        };
        writeln!(
            out,
            "{name:<12}{:>22}{:>22}",
            cell(&a.strict),
            cell(&a.decided)
        )?;
    }
    let c = &a.decided.confusion;
    writeln!(
        out,
        "decided confusion: tp={} fp={} tn={} fn={}; 95% percentile-bootstrap intervals",
        c.tp, c.fp, c.tn, c.fn_
    )
}
