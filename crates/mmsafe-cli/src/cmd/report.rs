//! `mmsafe report RUN --format md|json|text|html [--html FILE]`: render a stored run.

use crate::cmd::runs::{open_existing_store, summarize_run};
use crate::exit::Outcome;
use anyhow::Context as _;
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
    /// Run store (SQLite) [default: ./mmsafe.db].
    #[arg(long, value_name = "FILE", env = "MMSAFE_STORE")]
    store: Option<PathBuf>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let path = args
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::cmd::scan::DEFAULT_STORE));
    let store = open_existing_store(&path)?;
    let run = store.resolve_run(&args.run)?;
    let judge = args
        .judge
        .as_deref()
        .or(run.plan.judges.first().map(String::as_str));
    let summary = summarize_run(&store, &run.id, judge)?;
    let text = match args.format {
        Format::Md => mmsafe_report::render_markdown(&summary),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&mmsafe_report::render_json(&summary))?;
            s.push('\n');
            s
        }
        Format::Text => mmsafe_report::render_terminal(&summary),
        Format::Html => mmsafe_report::render_html(&summary),
    };
    if let Some(p) = &args.html {
        std::fs::write(p, mmsafe_report::render_html(&summary))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    match &args.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}
