//! `mmsafe datasets validate`: read every row of a suite and report counts
//! per hazard and expectation, every problem with its location, rows skipped
//! for broken images, duplicate case ids (naming both rows), and the sha256
//! check of the files a loader knows. Nothing here keeps or prints case text.

use crate::{manifest, registry, LoadOptions};
use mmsafe_core::{Case, DataError, Expect, Hazard};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// What validating one suite found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub spec: String,
    pub cases: usize,
    pub images: usize,
    pub by_hazard: BTreeMap<Hazard, usize>,
    pub by_expect: BTreeMap<Expect, usize>,
    /// Problems, each with its location; a suite with any is not usable.
    pub errors: Vec<String>,
    pub skipped: Vec<String>,
    pub sha256: Vec<HashLine>,
    /// False for built-in suites, which read no file to hash.
    #[serde(skip)]
    pub reads_files: bool,
}

/// One known file's sha256 check.
#[derive(Debug, serde::Serialize)]
pub struct HashLine {
    pub file: String,
    /// `ok`, `mismatch` or `unreadable`.
    pub status: &'static str,
    pub expected: String,
    pub actual: Option<String>,
}

/// Read every row of `spec` and collect counts, hashes, skips and problems.
/// Only a spec that cannot be opened at all is an `Err`; row problems are in
/// the report.
pub fn validate(spec: &str, skip_broken: bool) -> Result<Report, DataError> {
    let opts = LoadOptions {
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
    let mut source = registry::open(spec, &opts)?;
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
        .get(crate::source::LOCATION)
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

impl Report {
    /// The terminal form.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} cases, {} images",
            self.spec, self.cases, self.images
        );
        let _ = writeln!(out, "by expect:");
        for (e, n) in &self.by_expect {
            let _ = writeln!(out, "  {e:<28} {n}");
        }
        let _ = writeln!(out, "by hazard:");
        for (h, n) in &self.by_hazard {
            let _ = writeln!(out, "  {h:<28} {n}");
        }
        for h in &self.sha256 {
            match h.status {
                "ok" => {
                    let _ = writeln!(out, "sha256 ok: {}", h.file);
                }
                "mismatch" => {
                    let _ = writeln!(
                        out,
                        "warning: sha256 mismatch: {} is {}, SOURCE.md lists {} (another version of the file?)",
                        h.file,
                        h.actual.as_deref().unwrap_or("?"),
                        h.expected
                    );
                }
                _ => {}
            }
        }
        if self.sha256.is_empty() && self.reads_files {
            let _ = writeln!(out, "sha256: no known hash for this file");
        }
        for s in &self.skipped {
            let _ = writeln!(out, "skipped: {s}");
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "{} row(s) skipped (--skip-broken)", self.skipped.len());
        }
        out
    }
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
        let r = validate(&format!("csv:{f}:id=id"), false).unwrap();
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
        let r = validate(&format!("csv:{f}:image=pic"), true).unwrap();
        assert_eq!((r.cases, r.skipped.len()), (0, 2));
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(
            r.errors[0].contains("all 2 row(s) were skipped"),
            "{}",
            r.errors[0]
        );
        // An empty file is a problem too; one good row is not.
        let empty = write(dir.path(), "empty.csv", "prompt\n");
        let r = validate(&format!("csv:{empty}"), false).unwrap();
        assert!(r.errors[0].contains("holds no cases"), "{:?}", r.errors);
        let one = write(dir.path(), "one.csv", "prompt\nHello?\n");
        assert!(validate(&format!("csv:{one}"), false)
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
        let r = validate(&format!("figstep:{f}"), false).unwrap();
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(
            r.errors[0].starts_with(&format!("{f}:2:"))
                && r.errors[0].contains("unterminated quoted field starting at line 2"),
            "{}",
            r.errors[0]
        );
    }
}
