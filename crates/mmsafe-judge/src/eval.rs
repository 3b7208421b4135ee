//! `mmsafe judge eval`: judges measured against human labels on one labelled
//! set, and against each other on the same rows. The CLI parses flags, builds
//! the live judges through its wiring and calls [`evaluate`]; everything else
//! (loading, the hold-out split, judging, the figures, the files it writes and
//! the text it prints) is here.

use crate::calibrate::{self, Calibration, EvalReport, JudgeComparison, Judged};
use crate::coverage;
use crate::kinds::published;
use crate::labels::{self, LabelError, LabelFormat, Labeled};
use crate::training::{self, TrainingError};
use mmsafe_core::{DynJudge, Label, Verdict};
use mmsafe_metrics::Scores;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to measure, as the flags give it.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    /// Judge specs, in the order the figures are reported.
    pub judges: Vec<String>,
    /// A labelled file, or a directory of them.
    pub labels: PathBuf,
    /// The labels' format name (`LabelFormat::NAMES`).
    pub format: String,
    /// Only the held-out share of a `judge train --holdout F` split.
    pub holdout: Option<f64>,
    pub bootstrap: usize,
    pub seed: u64,
    pub concurrency: usize,
    /// Write the (single) judge's sensitivity/specificity here.
    pub save_calibration: Option<PathBuf>,
    /// Write one JSON line per row (location, human label, each judge's
    /// label and score; no text: label sets are harmful) here.
    pub predictions: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A bad flag value or combination (the CLI exits 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Judge(String),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<TrainingError> for EvalError {
    fn from(e: TrainingError) -> Self {
        match e {
            TrainingError::Option(m) => EvalError::Usage(m),
            TrainingError::Data(m) => EvalError::Data(m),
        }
    }
}

/// The figures of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    pub reports: Vec<EvalReport>,
    /// Every pair of judges on the same rows (exact McNemar).
    pub comparisons: Vec<JudgeComparison>,
}

impl EvalOutcome {
    /// `--json`: one judge's report as it is; several judges' reports and
    /// their pairs under `judges` and `comparisons`.
    pub fn to_json(&self) -> serde_json::Value {
        match self.reports.as_slice() {
            [one] => serde_json::to_value(one).unwrap_or_default(),
            _ => serde_json::json!({ "judges": self.reports, "comparisons": self.comparisons }),
        }
    }

    /// The terminal table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, report) in self.reports.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            report_text(&mut out, report);
            if let Some(rc) = &report.risk_coverage {
                out.push_str(&rc.to_text(&report.judge));
            }
        }
        if !self.comparisons.is_empty() {
            comparisons_text(&mut out, &self.comparisons);
        }
        out
    }
}

/// Load the labels, judge every row with every judge (`published:COLUMN`
/// reads another judge's verdicts from the file; the rest are built by
/// `build_live`), and compute the figures. Every spec is built before any
/// judging starts, so a typo costs nothing.
pub async fn evaluate(
    req: &EvalRequest,
    build_live: &dyn Fn(&str) -> Result<DynJudge, String>,
) -> Result<EvalOutcome, EvalError> {
    let Some(format) = LabelFormat::parse(&req.format) else {
        return Err(EvalError::Usage(format!(
            "unknown label format `{}` (expected {})",
            req.format,
            LabelFormat::NAMES
        )));
    };
    if req.save_calibration.is_some() && req.judges.len() != 1 {
        return Err(EvalError::Usage(
            "--save-calibration saves one judge's figures: give one --judge".into(),
        ));
    }
    let items = load_rows(&req.labels, format, req.holdout)?;
    let judges = req
        .judges
        .iter()
        .map(|spec| match spec.trim().strip_prefix("published:") {
            Some(column) => published::verdicts(spec, column, &items)
                .map(EvalJudge::Published)
                .map_err(|e| EvalError::Judge(e.to_string())),
            None => build_live(spec)
                .map(EvalJudge::Live)
                .map_err(EvalError::Judge),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut verdicts = Vec::with_capacity(judges.len());
    for judge in judges {
        verdicts.push(match judge {
            EvalJudge::Published(v) => v,
            EvalJudge::Live(judge) => {
                calibrate::verdicts_all(&judge, &items, req.concurrency, |_| {}).await
            }
        });
    }
    if let Some(path) = &req.predictions {
        write(path, predictions_jsonl(&items, &req.judges, &verdicts))?;
    }
    let (outcome, calibrations) = figures(req, format, &items, &verdicts);
    if let Some(path) = &req.save_calibration {
        let cal = calibrations.into_iter().next().flatten().ok_or_else(|| {
            EvalError::Data(format!(
                "cannot save a calibration for `{}`: sensitivity or specificity is undefined on {} (a class is missing or nothing was decided)",
                req.judges[0],
                req.labels.display()
            ))
        })?;
        let body = serde_json::to_string_pretty(&cal).unwrap_or_default();
        write(path, body + "\n")?;
    }
    Ok(outcome)
}

enum EvalJudge {
    Live(DynJudge),
    /// Already decided by another judge, as the labels file records it.
    Published(Vec<Verdict>),
}

/// The labelled rows of a file or directory, the hold-out share only when
/// asked; an empty set is an error (figures over nothing mean nothing).
pub fn load_rows(
    path: &Path,
    format: LabelFormat,
    holdout: Option<f64>,
) -> Result<Vec<Labeled>, EvalError> {
    let mut items = Vec::new();
    for file in training::data_files(path)? {
        items.extend(labels::load(&file, format)?);
    }
    if let Some(frac) = holdout {
        items.retain(|it| labels::in_holdout(&it.group, frac));
    }
    if items.is_empty() {
        return Err(EvalError::Data(format!(
            "{}: no labelled rows",
            path.display()
        )));
    }
    Ok(items)
}

fn figures(
    req: &EvalRequest,
    format: LabelFormat,
    items: &[Labeled],
    verdicts: &[Vec<Verdict>],
) -> (EvalOutcome, Vec<Option<Calibration>>) {
    let human: Vec<bool> = items.iter().map(|it| it.positive).collect();
    let judged: Vec<Vec<Judged>> = verdicts
        .iter()
        .map(|vs| {
            vs.iter()
                .zip(&human)
                .map(|(v, &human)| Judged {
                    human,
                    label: v.label,
                })
                .collect()
        })
        .collect();
    let labels_name = req.labels.display().to_string();
    let mut reports = Vec::new();
    let mut calibrations = Vec::new();
    for ((spec, judged), verdicts) in req.judges.iter().zip(&judged).zip(verdicts) {
        let (mut report, calibration) =
            calibrate::evaluate(spec, &labels_name, format, judged, req.bootstrap, req.seed);
        report.risk_coverage =
            coverage::risk_coverage(verdicts, &human, &coverage::COVERAGES, &coverage::TARGETS);
        reports.push(report);
        calibrations.push(calibration);
    }
    let mut comparisons = Vec::new();
    for i in 0..judged.len() {
        for j in i + 1..judged.len() {
            comparisons.push(calibrate::compare(
                (&req.judges[i], &judged[i]),
                (&req.judges[j], &judged[j]),
            ));
        }
    }
    (
        EvalOutcome {
            reports,
            comparisons,
        },
        calibrations,
    )
}

fn write(path: &Path, body: String) -> Result<(), EvalError> {
    std::fs::write(path, body).map_err(|source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One JSON line per labelled row: its location, the human label, and each
/// judge's label, score and agreement. Rows' text is left out.
pub fn predictions_jsonl(items: &[Labeled], specs: &[String], verdicts: &[Vec<Verdict>]) -> String {
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
                        Label::Complied => Some(item.positive),
                        Label::Refused => Some(!item.positive),
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
    body
}

fn comparisons_text(out: &mut String, comparisons: &[JudgeComparison]) {
    out.push('\n');
    out.push_str(
        "paired (same rows; undecided = wrong): exact McNemar test on the rows only one judge gets right\n",
    );
    for c in comparisons {
        let p = if c.p_value < 0.001 {
            "p < 0.001".to_string()
        } else {
            format!("p = {:.3}", c.p_value)
        };
        let _ = writeln!(
            out,
            "{} {:.1}% vs {} {:.1}%: only the first right {}, only the second right {}, n {}, {p}",
            c.a,
            100.0 * c.accuracy_a,
            c.b,
            100.0 * c.accuracy_b,
            c.only_a_right,
            c.only_b_right,
            c.n,
        );
    }
}

fn fmt_opt(x: Option<f64>, as_pct: bool) -> String {
    match x {
        Some(x) if as_pct => format!("{:.1}%", 100.0 * x),
        Some(x) => format!("{x:.3}"),
        None => "n/a".into(),
    }
}

fn report_text(out: &mut String, r: &EvalReport) {
    let a = &r.agreement;
    let _ = writeln!(out, "judge   {}", r.judge);
    let _ = writeln!(out, "labels  {} ({})", r.labels, r.format);
    let _ = writeln!(
        out,
        "        positive = {}; the judge's `complied` counts as positive",
        r.positive
    );
    let _ = writeln!(
        out,
        "n       {} items, {} undecided ({} of them errors)",
        a.n, a.undecided, r.errors
    );
    let _ = writeln!(
        out,
        "{:<12}{:>22}{:>22}",
        "", "all (undecided=wrong)", "decided only"
    );
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
        let _ = writeln!(
            out,
            "{name:<12}{:>22}{:>22}",
            cell(&a.strict),
            cell(&a.decided)
        );
    }
    let c = &a.decided.confusion;
    let _ = writeln!(
        out,
        "decided confusion: tp={} fp={} tn={} fn={}; 95% percentile-bootstrap intervals",
        c.tp, c.fp, c.tn, c.fn_
    );
}
