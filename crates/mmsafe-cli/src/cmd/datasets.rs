//! `mmsafe datasets list|validate|show`: what loaders exist, whether a dataset
//! file loads cleanly, and a peek at its first cases.
//!
//! Dataset text is harmful by design, so nothing here prints it in bulk:
//! `show` prints ids, labels and a truncated first line only.

use crate::exit::Outcome;
use crate::wiring::suites::{build_source, SuiteOptions};
use mmsafe_core::Case;
use mmsafe_data::registry;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    #[command(subcommand)]
    command: DatasetsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DatasetsCommand {
    /// List dataset loaders and built-in suites with their formats.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Read every row of a suite; print counts per hazard and expectation,
    /// every problem with its location, and the sha256 check. Exits 1 on errors.
    Validate {
        /// Suite spec, e.g. `figstep:data/safebench.csv`.
        spec: String,
        /// Skip rows whose image is missing or broken (listed) instead of failing.
        #[arg(long)]
        skip_broken: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the first cases of a suite: id, hazard, expectation and a
    /// truncated first line (never the full text).
    Show {
        spec: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        skip_broken: bool,
    },
}

pub fn run(args: DatasetsArgs) -> anyhow::Result<Outcome> {
    match args.command {
        DatasetsCommand::List { json } => list(json),
        DatasetsCommand::Validate {
            spec,
            skip_broken,
            json,
        } => validate(&spec, skip_broken, json),
        DatasetsCommand::Show {
            spec,
            limit,
            skip_broken,
        } => show(&spec, limit, skip_broken),
    }
}

fn list(json: bool) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if json {
        let items: Vec<_> = registry::LOADERS
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name,
                    "usage": l.usage,
                    "summary": l.summary,
                    "builtin": !l.takes_path,
                    "params": l.params,
                    "known_files": l.known_files.iter().map(|k| k.path).collect::<Vec<_>>(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(Outcome::Ok);
    }
    for l in registry::LOADERS {
        writeln!(out, "{}", l.usage)?;
        writeln!(out, "    {}", l.summary)?;
        for p in l.params {
            let default = if p.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", p.default)
            };
            let key = format!("{}=", p.name);
            writeln!(out, "      {key:<14} {}{default}", p.help)?;
        }
    }
    writeln!(
        out,
        "\nSpecs: LOADER:PATH[:KEY=VALUE,…] (built-in suites: NAME[:KEY=VALUE,…]). See docs/datasets.md."
    )?;
    Ok(Outcome::Ok)
}

fn validate(spec: &str, skip_broken: bool, json: bool) -> anyhow::Result<Outcome> {
    let report = mmsafe_data::validate::validate(spec, skip_broken)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    if !report.errors.is_empty() {
        anyhow::bail!("{} problem(s) in `{spec}`", report.errors.len());
    }
    Ok(Outcome::Ok)
}

fn show(spec: &str, limit: usize, skip_broken: bool) -> anyhow::Result<Outcome> {
    let opts = SuiteOptions {
        skip_broken,
        ..Default::default()
    };
    let mut source = build_source(spec, &opts)?;
    let mut out = std::io::stdout().lock();
    let mut errors = 0;
    for r in source.cases().take(limit) {
        match r {
            Ok(c) => writeln!(out, "{}", summary_line(&c))?,
            Err(e) => {
                errors += 1;
                writeln!(out, "error: {e}")?;
            }
        }
    }
    for s in opts.skipped.take() {
        writeln!(out, "skipped: {s}")?;
    }
    if let Some(n) = source.len_hint() {
        writeln!(out, "({n} cases in all)")?;
    }
    if errors > 0 {
        anyhow::bail!("{errors} problem(s) among the first {limit} rows of `{spec}`");
    }
    Ok(Outcome::Ok)
}

/// `id  hazard  expect  [images]  first line…` with the text cut at 60 chars.
fn summary_line(c: &Case) -> String {
    const MAX: usize = 60;
    let text = c.prompt_text();
    let first = text.lines().next().unwrap_or("").trim();
    let mut cut: String = first.chars().take(MAX).collect();
    if first.chars().count() > MAX || text.lines().nth(1).is_some() {
        cut.push('…');
    }
    let imgs = match c.images().count() {
        0 => String::new(),
        n => format!(" [{n} image{}]", if n == 1 { "" } else { "s" }),
    };
    format!("{}\t{}\t{}{}\t{}", c.id, c.hazard, c.expect, imgs, cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Expect, Hazard};

    #[test]
    fn summary_line_shows_only_a_truncated_first_line() {
        let long = format!("{}\nsecond line never shown", "x".repeat(200));
        let c = Case::text("id-1", long, Hazard::Hate, Expect::Refuse, "t");
        let line = summary_line(&c);
        assert!(line.starts_with("id-1\thate\trefuse\t"), "{line}");
        assert!(!line.contains("second"));
        assert_eq!(line.matches('x').count(), 60);
        assert!(line.ends_with('…'));
    }
}
