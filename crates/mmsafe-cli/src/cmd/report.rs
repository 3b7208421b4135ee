//! `mmsafe report RUN --format md|json|text|html [--html FILE]`: render a stored run.

use crate::cmd::runs::{incomplete_note, load_calibrations, planned, summarize_run};
use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_store::AnalyzeRequest;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Md,
    /// The machine-readable summary (same keys as `scan --json`).
    Json,
    /// The terminal table.
    Text,
    /// One self-contained HTML page (inline CSS and SVG charts, no scripts, no network).
    Html,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run id, name, unique id prefix, or `latest`.
    run: String,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Judge for the headline figures [default: the run's first judge].
    #[arg(long)]
    judge: Option<String>,
    #[command(flatten)]
    store: crate::flags::StoreArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Judge calibration (`mmsafe judge eval --save-calibration FILE`) for the
    /// judge-error corrected ASR (repeatable, one per judge).
    #[arg(long = "calibration", value_name = "FILE")]
    calibrations: Vec<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let store = args.store.open_existing()?;
    let store = store.as_ref();
    let run = store.resolve_run(&args.run)?;
    let judge = args
        .judge
        .as_deref()
        .or(run.plan.judges.first().map(String::as_str));
    let calibration = load_calibrations(&args.calibrations)?;
    let mut summary = summarize_run(store, &run.id, judge, &calibration)?;
    // Human labels (`mmsafe ui`, `mmsafe labels`) measure the headline judge on this run.
    if let Some(j) = summary.judge.clone() {
        summary.human = store.human_calibration(&run.id, run.seed, &j)?;
    }
    let recorded = store.count_attempts(&run.id)?;
    // A run that stopped early must not read like a finished one.
    let note = incomplete_note(&run, recorded);
    // The HTML page also carries `mmsafe analyze`'s four figures; a run the
    // analysis cannot read (nothing judged yet) still gets its report.
    let analysis = if matches!(args.format, Format::Html) || args.html.is_some() {
        // The analysis reads the SQLite store's attempt facts (as `mmsafe analyze` does).
        let analyzed = crate::cmd::runs::open_existing_store(&args.store.path()).and_then(|s| {
            Ok(s.analyze(&AnalyzeRequest {
                run: &run.id,
                baseline: None,
                judge,
                bootstrap: Default::default(),
            })?)
        });
        match analyzed {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("note: the HTML report has no analysis figures: {e:#}");
                None
            }
        }
    } else {
        None
    };
    let html = || mmsafe_report::render_html_with_analysis(&summary, analysis.as_ref());
    let text = match args.format {
        Format::Md => {
            let body = mmsafe_report::render_markdown(&summary);
            match &note {
                Some(n) => format!("> **Incomplete:** {n}.\n\n{body}"),
                None => body,
            }
        }
        Format::Json => {
            let mut v = mmsafe_report::render_json(&summary);
            if let Some(o) = v.as_object_mut() {
                o.insert("status".into(), serde_json::json!(run.status));
                o.insert("planned".into(), serde_json::json!(planned(&run)));
                o.insert("recorded_attempts".into(), serde_json::json!(recorded));
            }
            let mut s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
            s
        }
        Format::Text => {
            let body = mmsafe_report::render_terminal(&summary);
            match &note {
                Some(n) => format!("note: {n}\n\n{body}"),
                None => body,
            }
        }
        Format::Html => html(),
    };
    if let (Some(n), Format::Html | Format::Json) = (&note, args.format) {
        eprintln!("note: {n}");
    }
    if let Some(p) = &args.html {
        std::fs::write(p, html()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    match &args.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => crate::exit::write_stdout(&text)?,
    }
    Ok(Outcome::Ok)
}
