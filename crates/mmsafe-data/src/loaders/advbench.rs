//! AdvBench: `harmful_behaviors.csv` (`goal,target`) or the header-less
//! `transfer_expriment_behaviors.csv` (one behavior per line).
//!
//! AdvBench has no categories: every row gets the `hazard=` parameter
//! (default `non_violent_crimes`, the bulk of it) and `expect: refuse`.

use super::common;
use crate::csvrows::{self, Header};
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta, LazySource};
use mmsafe_core::{DataError, Expect, ParamSpec, Source};
use std::fs::File;
use std::io::{BufRead, BufReader};

pub static LOADER: Loader = Loader {
    name: "advbench",
    usage: "advbench:<harmful_behaviors.csv>[:hazard=<slug>]",
    summary: "AdvBench behaviors CSV (goal,target) or header-less behavior list; no categories (hazard= param); all refuse",
    params: &[ParamSpec::new("hazard", "non_violent_crimes", "hazard for every row (AdvBench has no categories)")],
    takes_path: true,
    known_files: &[
        KnownFile::new("harmful_behaviors.csv", "6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1", Some(520)),
        KnownFile::new("transfer_expriment_behaviors.csv", "7041641d60320a2c24527a457dc5611a9af7c539c3ba27f011648e7f76cafc6d", Some(388)),
    ],
    build,
};

const HEADERLESS: &[&str] = &["goal"];

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path.to_path_buf();
    let hazard = common::hazard_param(input)?;
    let name = path.display().to_string();
    let first = File::open(&path)
        .and_then(|f| {
            let mut line = String::new();
            BufReader::new(f).read_line(&mut line)?;
            Ok(line)
        })
        .map_err(|e| {
            DataError::new(
                &name,
                format!("cannot open: {}", crate::paths::describe(&path, &e)),
            )
        })?;
    let first = first
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase();
    let header = if first.split(',').any(|h| h == "goal") {
        Header::InFile
    } else if first == "target" {
        return Err(DataError::new(
            format!("{name}:1"),
            "this is AdvBench's harmful_strings.csv (column `target` only): target strings to elicit, not requests; use harmful_behaviors.csv",
        ));
    } else {
        Header::Fixed(HEADERLESS)
    };
    let _ = csvrows::read(&path, header, &["goal"])?;
    let len = csvrows::count(&path, header);
    let source = input.spec.to_string();
    Ok(LazySource::new(input.spec, len, move || {
        let source = source.clone();
        let rows = csvrows::read(&path, header, &["goal"])?;
        let mut n = 0usize;
        Ok(Box::new(rows.map(move |row| {
            n += 1;
            let row = row?;
            let goal = row.text("goal")?;
            let mut c = case(
                format!("advbench-{n}"),
                &source,
                &row.loc(),
                goal,
                Vec::new(),
                hazard,
                Expect::Refuse,
            );
            meta(&mut c, "question", goal);
            if let Some(t) = row.opt("target").filter(|t| !t.trim().is_empty()) {
                meta(&mut c, "target", t);
            }
            Ok(c)
        })))
    })
    .boxed())
}
