//! `mmsafe datasets list|validate|show`: what loaders exist, whether a dataset
//! file loads cleanly, and a peek at its first cases.
//!
//! Dataset text is harmful by design, so nothing here prints it in bulk:
//! `show` prints ids, labels and a truncated first line only.

use crate::exit::Outcome;
use crate::wiring::suites::{build_source, SuiteOptions};
use mmsafe_core::{Case, Expect, Hazard};
use mmsafe_data::{manifest, registry};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

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

#[derive(Default, serde::Serialize)]
struct Report {
    spec: String,
    cases: usize,
    images: usize,
    by_hazard: BTreeMap<Hazard, usize>,
    by_expect: BTreeMap<Expect, usize>,
    errors: Vec<String>,
    skipped: Vec<String>,
    sha256: Vec<HashLine>,
    /// False for built-in suites, which read no file to hash.
    #[serde(skip)]
    reads_files: bool,
}

#[derive(serde::Serialize)]
struct HashLine {
    file: String,
    status: &'static str,
    expected: String,
    actual: Option<String>,
}

fn validate(spec: &str, skip_broken: bool, json: bool) -> anyhow::Result<Outcome> {
    let report = check(spec, skip_broken)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_report(&mut out, &report)?;
    }
    if !report.errors.is_empty() {
        anyhow::bail!("{} problem(s) in `{spec}`", report.errors.len());
    }
    Ok(Outcome::Ok)
}

/// Read every row of `spec` and collect counts, hashes, skips and problems.
fn check(spec: &str, skip_broken: bool) -> anyhow::Result<Report> {
    let opts = SuiteOptions {
        skip_broken,
        ..Default::default()
    };
    let mut report = Report {
        spec: spec.to_string(),
        ..Default::default()
    };
    if let Ok((parsed, loader)) = registry::parse(spec) {
        report.reads_files = loader.takes_path;
        for c in manifest::check(loader, Path::new(&parsed.path)) {
            let (status, actual) = match &c.actual {
                Ok(a) if c.matches() => ("ok", Some(a.clone())),
                Ok(a) => ("mismatch", Some(a.clone())),
                Err(e) => {
                    report
                        .errors
                        .push(format!("{}: cannot hash: {e}", c.file.display()));
                    ("unreadable", None)
                }
            };
            report.sha256.push(HashLine {
                file: c.file.display().to_string(),
                status,
                expected: c.known.sha256.to_string(),
                actual,
            });
        }
    }
    let mut source = build_source(spec, &opts)?;
    // id → the row it was first read from, to name both rows of a duplicate.
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    for r in source.cases() {
        match r {
            Ok(c) => {
                report.cases += 1;
                report.images += c.images().count();
                *report.by_hazard.entry(c.hazard).or_default() += 1;
                *report.by_expect.entry(c.expect).or_default() += 1;
                let here = location(&c);
                match seen.get(&c.id) {
                    Some(first) => report.errors.push(duplicate_error(
                        &c.id,
                        first.as_deref(),
                        here.as_deref(),
                    )),
                    None => {
                        seen.insert(c.id.clone(), here);
                    }
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    report.skipped = opts
        .skipped
        .take()
        .into_iter()
        .map(|e| e.to_string())
        .collect();
    // A suite that yields nothing would make a scan measure nothing.
    if report.cases == 0 && report.errors.is_empty() {
        report.errors.push(if report.skipped.is_empty() {
            format!("`{spec}` holds no cases")
        } else {
            format!(
                "no cases left: all {} row(s) were skipped for broken images (--skip-broken)",
                report.skipped.len()
            )
        });
    }
    Ok(report)
}

/// The `file:line` (or `file: item N`) a loader recorded for the case.
fn location(c: &Case) -> Option<String> {
    c.metadata
        .get(mmsafe_data::source::LOCATION)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

fn duplicate_error(id: &str, first: Option<&str>, here: Option<&str>) -> String {
    match (first, here) {
        (Some(f), Some(h)) => format!("{h}: case id `{id}` appears more than once (first at {f})"),
        (None, Some(h)) => format!("{h}: case id `{id}` appears more than once"),
        _ => format!("case id `{id}` appears more than once"),
    }
}

fn print_report(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "{}: {} cases, {} images", r.spec, r.cases, r.images)?;
    writeln!(out, "by expect:")?;
    for (e, n) in &r.by_expect {
        writeln!(out, "  {e:<28} {n}")?;
    }
    writeln!(out, "by hazard:")?;
    for (h, n) in &r.by_hazard {
        writeln!(out, "  {h:<28} {n}")?;
    }
    for h in &r.sha256 {
        match h.status {
            "ok" => writeln!(out, "sha256 ok: {}", h.file)?,
            "mismatch" => writeln!(
                out,
                "warning: sha256 mismatch: {} is {}, SOURCE.md lists {} (another version of the file?)",
                h.file,
                h.actual.as_deref().unwrap_or("?"),
                h.expected
            )?,
            _ => {}
        }
    }
    if r.sha256.is_empty() && r.reads_files {
        writeln!(out, "sha256: no known hash for this file")?;
    }
    for s in &r.skipped {
        writeln!(out, "skipped: {s}")?;
    }
    for e in &r.errors {
        writeln!(out, "error: {e}")?;
    }
    if !r.skipped.is_empty() {
        writeln!(out, "{} row(s) skipped (--skip-broken)", r.skipped.len())?;
    }
    Ok(())
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

    fn write(dir: &Path, name: &str, body: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }

    #[test]
    fn duplicate_ids_name_file_and_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "dup.csv",
            "id,prompt\na,How?\nb,What?\na,Why?\n",
        );
        let r = check(&format!("csv:{f}:id=id"), false).unwrap();
        assert_eq!(r.cases, 3);
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let e = &r.errors[0];
        assert!(
            e.starts_with(&format!("{f}:4: case id `a`")) && e.contains(&format!("first at {f}:2")),
            "{e}"
        );
    }

    #[test]
    fn every_row_skipped_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.png"), "not a png").unwrap();
        let f = write(
            dir.path(),
            "img.csv",
            "prompt,pic\nWhat is this?,broken.png\nAnd this?,absent.png\n",
        );
        let r = check(&format!("csv:{f}:image=pic"), true).unwrap();
        assert_eq!((r.cases, r.skipped.len()), (0, 2));
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(
            r.errors[0].contains("all 2 row(s) were skipped"),
            "{}",
            r.errors[0]
        );
        // An empty file is a problem too; one good row is not.
        let empty = write(dir.path(), "empty.csv", "prompt\n");
        let r = check(&format!("csv:{empty}"), false).unwrap();
        assert!(r.errors[0].contains("holds no cases"), "{:?}", r.errors);
        let one = write(dir.path(), "one.csv", "prompt\nHello?\n");
        assert!(check(&format!("csv:{one}"), false)
            .unwrap()
            .errors
            .is_empty());
    }

    #[test]
    fn unterminated_quote_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "bq.csv",
            "dataset,category_id,task_id,category_name,question,instruction\r\nS,1,1,Fraud,\"open,Steps.\r\nS,1,2,Fraud,q,Steps.\r\n",
        );
        let r = check(&format!("figstep:{f}"), false).unwrap();
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(
            r.errors[0].starts_with(&format!("{f}:2:"))
                && r.errors[0].contains("unterminated quoted field starting at line 2"),
            "{}",
            r.errors[0]
        );
    }

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
