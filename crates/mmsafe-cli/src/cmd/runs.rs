//! `mmsafe runs list|show|status|diff|merge|copy`: what the store holds, and
//! moving runs between stores.

use crate::exit::{outln, Outcome};
use crate::flags::{JsonArg, StoreArg};
use anyhow::{bail, Context as _};
use mmsafe_metrics::{JudgeCalibration, Summary, SummaryOptions};
use mmsafe_store::{Run, RunStatus, RunStore, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    which: Which,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Every run, newest first.
    List,
    /// One run: plan, status, counts and summary.
    Show {
        /// Run id, name, unique id prefix, or `latest`.
        run: String,
        /// Judge for the headline figures [default: the run's first judge].
        #[arg(long)]
        judge: Option<String>,
        /// Judge calibration (`mmsafe judge eval --save-calibration FILE`) for
        /// the corrected ASR (repeatable, one per judge).
        #[arg(long = "calibration", value_name = "FILE")]
        calibrations: Vec<PathBuf>,
    },
    /// A run's progress, per shard for a sharded run (`scan --shard I/N`).
    Status {
        /// Run id, name, unique id prefix, or `latest`.
        run: String,
    },
    /// Fold SQLite shard stores into one store (refuses runs whose plans differ).
    Merge {
        /// The store to write: an SQLite file (created if missing) or a postgres:// URL.
        out: String,
        /// The shard stores (SQLite files) to read.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    /// Copy one run from --store into another store (SQLite file or postgres:// URL).
    Copy {
        /// Run id, name, unique id prefix, or `latest`.
        run: String,
        /// The store to write into.
        #[arg(long, value_name = "FILE|URL")]
        to: String,
    },
    /// Compare two runs on their shared attempts (McNemar test on attack success).
    Diff {
        /// The baseline run.
        a: String,
        /// The run compared with it.
        b: String,
        /// Judge whose verdicts are compared [default: the first judge both runs share].
        #[arg(long)]
        judge: Option<String>,
    },
}

pub fn run(args: RunsArgs) -> anyhow::Result<Outcome> {
    let json = args.out.json;
    match args.which {
        Which::Merge { out, shards } => return merge(&out, &shards, json),
        Which::Copy { run, to } => return copy(&args.store, &run, &to, json),
        _ => {}
    }
    let store = args.store.open_existing()?;
    let store = store.as_ref();
    match args.which {
        Which::List => list(store, json),
        Which::Show {
            run,
            judge,
            calibrations,
        } => {
            let cal = load_calibrations(&calibrations)?;
            show(store, &run, judge.as_deref(), &cal, json)
        }
        Which::Status { run } => status(store, &run, json),
        Which::Diff { a, b, judge } => diff(store, &a, &b, judge.as_deref(), json),
        Which::Merge { .. } | Which::Copy { .. } => unreachable!("handled above"),
    }
}

/// Open a store that must already exist (reading commands never create one).
/// For the commands that read SQLite stores only; a postgres:// URL is named
/// (without credentials) with the way around.
pub fn open_existing_store(path: &Path) -> anyhow::Result<Store> {
    if let Some(url) = path.to_str().filter(|s| mmsafe_store::is_postgres_url(s)) {
        bail!(
            "this command reads SQLite stores only, not {}; copy the run first: mmsafe runs copy RUN --store URL --to runs.db",
            mmsafe_store::redact_url(url)
        );
    }
    if !path.exists() {
        bail!(
            "no run store at {} (run `mmsafe scan` first, or pass --store FILE)",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}

fn open_location(loc: &str) -> anyhow::Result<Box<dyn RunStore>> {
    crate::flags::StoreArg::at(loc).open()
}

fn merge(out: &str, shards: &[PathBuf], json: bool) -> anyhow::Result<Outcome> {
    let mut inputs = Vec::new();
    for p in shards {
        if p.to_str().is_some_and(mmsafe_store::is_postgres_url) {
            return crate::exit::usage(
                "runs merge reads SQLite shard stores; for a run in PostgreSQL use `mmsafe runs copy`",
            );
        }
        inputs.push(open_existing_store(p)?);
    }
    let mut to = open_location(out)?;
    let refs: Vec<&dyn RunStore> = inputs.iter().map(|s| s as &dyn RunStore).collect();
    let copied = mmsafe_store::merge::merge(to.as_mut(), &refs)?;
    print_copied(&copied, &to.describe(), json)
}

fn copy(from: &crate::flags::StoreArg, run: &str, to: &str, json: bool) -> anyhow::Result<Outcome> {
    let src = from.open_existing()?;
    let mut dst = open_location(to)?;
    let c = mmsafe_store::merge::copy_run(src.as_ref(), dst.as_mut(), run)?;
    print_copied(&[c], &dst.describe(), json)
}

fn print_copied(
    copied: &[mmsafe_store::merge::Copied],
    to: &str,
    json: bool,
) -> anyhow::Result<Outcome> {
    if json {
        outln!("{}", serde_json::to_string_pretty(copied)?)?;
        return Ok(Outcome::Ok);
    }
    for c in copied {
        outln!(
            "run {}: {} attempts read, {} new in {to}",
            c.run,
            c.read,
            c.written
        )?;
    }
    Ok(Outcome::Ok)
}

fn status(store: &dyn RunStore, q: &str, json: bool) -> anyhow::Result<Outcome> {
    let run = displayable(store.resolve_run(q)?);
    let recorded = store.count_attempts(&run.id)?;
    let errors = store.count_errors(&run.id)?;
    let shards = store.shard_statuses(&run.id)?;
    if json {
        let v = serde_json::json!({
            "run": run.id,
            "name": run.name,
            "status": run.status,
            "planned": planned(&run),
            "recorded_attempts": recorded,
            "errors": errors,
            "shards": shards,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(Outcome::Ok);
    }
    outln!("run       {}", run.id)?;
    if let Some(n) = &run.name {
        outln!("name      {n}")?;
    }
    outln!("status    {}", run.status)?;
    match planned(&run) {
        Some(p) => outln!("attempts  {recorded} recorded of {p} planned ({errors} errors)")?,
        None => outln!("attempts  {recorded} recorded ({errors} errors)")?,
    }
    if shards.is_empty() {
        outln!("shards    none (a single-process run)")?;
        return Ok(Outcome::Ok);
    }
    outln!()?;
    outln!(
        "{:<7}  {:<11}  {:>8}  {:>7}  {:>6}  finished",
        "shard",
        "status",
        "recorded",
        "planned",
        "errors"
    )?;
    for s in &shards {
        outln!(
            "{:<7}  {:<11}  {:>8}  {:>7}  {:>6}  {}",
            format!("{}/{}", s.index, s.count),
            s.status,
            s.recorded,
            s.planned.map_or("?".to_string(), |p| p.to_string()),
            s.errors,
            s.finished.as_deref().unwrap_or("-")
        )?;
    }
    Ok(Outcome::Ok)
}

/// The summary of one run under one judge (default: the run's first judge).
pub fn summarize_run(
    store: &dyn RunStore,
    run_id: &str,
    judge: Option<&str>,
    calibration: &BTreeMap<String, JudgeCalibration>,
) -> anyhow::Result<Summary> {
    let known = store.judges(run_id)?;
    if let Some(j) = judge {
        if !known.is_empty() && !known.iter().any(|k| k == j) {
            bail!(
                "run {run_id} has no verdicts from judge `{j}` (judges: {})",
                known.join(", ")
            );
        }
    }
    let obs = store.observations(run_id, None)?;
    if let Some(j) = judge {
        if !calibration.is_empty() && !calibration.contains_key(j) {
            let have: Vec<&str> = calibration.keys().map(String::as_str).collect();
            tracing::warn!(
                "no calibration for judge `{j}` (calibrations given for: {}); corrected_asr stays null",
                have.join(", ")
            );
        }
    }
    let opts = SummaryOptions {
        judge: judge.map(String::from),
        calibration: calibration.clone(),
        ..SummaryOptions::default()
    };
    Ok(mmsafe_metrics::summarize(run_id, &obs, &opts))
}

/// Calibration files (`mmsafe judge eval --save-calibration`), by judge name.
pub fn load_calibrations(paths: &[PathBuf]) -> anyhow::Result<BTreeMap<String, JudgeCalibration>> {
    let mut out = BTreeMap::new();
    for p in paths {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("calibration {}: cannot read", p.display()))?;
        let cal: mmsafe_judge::calibrate::Calibration =
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "calibration {}: not a file written by `mmsafe judge eval --save-calibration`",
                    p.display()
                )
            })?;
        let ok = |x: f64| (0.0..=1.0).contains(&x);
        if !ok(cal.sensitivity) || !ok(cal.specificity) {
            bail!(
                "calibration {}: sensitivity {} / specificity {} must be within 0..=1",
                p.display(),
                cal.sensitivity,
                cal.specificity
            );
        }
        if out.contains_key(&cal.judge) {
            bail!(
                "calibration {}: a second calibration for judge `{}`",
                p.display(),
                cal.judge
            );
        }
        out.insert(
            cal.judge,
            JudgeCalibration {
                sensitivity: cal.sensitivity,
                specificity: cal.specificity,
            },
        );
    }
    Ok(out)
}

/// The run as it may be shown: the target spec's credentials redacted (runs
/// recorded before redaction existed may hold them).
pub(crate) fn displayable(mut run: Run) -> Run {
    run.plan.target = mmsafe_target::redact_spec(&run.plan.target);
    run
}

/// Attempts the run planned, when known (recorded at the start of the scan).
pub(crate) fn planned(run: &Run) -> Option<u64> {
    run.plan.options.planned
}

/// A warning line for a run whose figures cover only part of its plan.
pub(crate) fn incomplete_note(run: &Run, recorded: u64) -> Option<String> {
    let planned = planned(run);
    let short = planned.is_some_and(|p| recorded < p);
    if run.status == RunStatus::Completed && !short {
        return None;
    }
    let of = match planned {
        Some(p) => format!("{recorded} of {p} planned attempts"),
        None => format!("{recorded} attempts"),
    };
    let resume = match run.status {
        RunStatus::Completed => String::new(),
        _ => format!(
            "; finish it with `mmsafe scan --resume {}`",
            run.name.as_deref().unwrap_or(&run.id)
        ),
    };
    Some(format!(
        "run {} is {} with {of} recorded: the figures cover only those{resume}",
        run.id, run.status
    ))
}

fn list(store: &dyn RunStore, json: bool) -> anyhow::Result<Outcome> {
    let mut runs = store.list_runs()?;
    for r in &mut runs {
        r.run.plan.target = mmsafe_target::redact_spec(&r.run.plan.target);
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&runs)?)?;
        return Ok(Outcome::Ok);
    }
    if runs.is_empty() {
        outln!("no runs in {}", store.describe())?;
        return Ok(Outcome::Ok);
    }
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            [
                r.run.id.clone(),
                r.run.name.clone().unwrap_or_default(),
                r.run.created.clone(),
                r.run.status.to_string(),
                r.attempts.to_string(),
                r.errors.to_string(),
                r.run.plan.target.clone(),
            ]
        })
        .collect();
    let header = [
        "id", "name", "created", "status", "attempts", "errors", "target",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else if i == 4 || i == 5 {
                s.push_str(&format!("{c:>w$}  "));
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    outln!("{}", line(&header.map(String::from)))?;
    for r in &rows {
        outln!("{}", line(r))?;
    }
    Ok(Outcome::Ok)
}

fn show(
    store: &dyn RunStore,
    q: &str,
    judge: Option<&str>,
    calibration: &BTreeMap<String, JudgeCalibration>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let run = displayable(store.resolve_run(q)?);
    let attempts = store.count_attempts(&run.id)?;
    let summary = summarize_run(
        store,
        &run.id,
        judge.or(run.plan.judges.first().map(String::as_str)),
        calibration,
    )?;
    if json {
        let v = serde_json::json!({
            "run": run,
            "status": run.status,
            "planned": planned(&run),
            "recorded_attempts": attempts,
            "summary": mmsafe_report::render_json(&summary),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(Outcome::Ok);
    }
    let p = &run.plan;
    outln!("run       {}", run.id)?;
    if let Some(n) = &run.name {
        outln!("name      {n}")?;
    }
    outln!("status    {}", run.status)?;
    outln!(
        "created   {}{}",
        run.created,
        run.finished
            .as_deref()
            .map(|f| format!(" · finished {f}"))
            .unwrap_or_default()
    )?;
    outln!("target    {}", p.target)?;
    outln!("suites    {}", p.suites.join(", "))?;
    outln!("attacks   {}", p.attacks.join(", "))?;
    outln!("defenses  {}", p.defenses.join(", "))?;
    outln!("judges    {}", p.judges.join(", "))?;
    outln!(
        "repeats   {} · max tokens {} · seed {}",
        p.repeats,
        p.max_tokens
            .map_or("default".to_string(), |m| m.to_string()),
        run.seed
    )?;
    let versions: Vec<String> = run
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    outln!("versions  {}", versions.join(" · "))?;
    match planned(&run) {
        Some(p) => outln!("attempts  {attempts} recorded of {p} planned")?,
        None => outln!("attempts  {attempts} recorded")?,
    }
    if let Some(note) = incomplete_note(&run, attempts) {
        outln!("note      {note}")?;
    }
    outln!()?;
    crate::exit::write_stdout(&mmsafe_report::render_terminal(&summary))?;
    Ok(Outcome::Ok)
}

fn diff(
    store: &dyn RunStore,
    a: &str,
    b: &str,
    judge: Option<&str>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let ra = store.resolve_run(a)?;
    let rb = store.resolve_run(b)?;
    let oa = store.observations(&ra.id, None)?;
    let ob = store.observations(&rb.id, None)?;
    let m = match judge {
        Some(j) => mmsafe_metrics::mcnemar_with_judge(&oa, &ob, j),
        None => mmsafe_metrics::mcnemar(&oa, &ob),
    };
    let j = m.judge.clone();
    let none = BTreeMap::new();
    let sa = summarize_run(store, &ra.id, j.as_deref(), &none)?;
    let sb = summarize_run(store, &rb.id, j.as_deref(), &none)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&mmsafe_report::render_diff_json(&m, &sa, &sb))?
        )?;
    } else {
        crate::exit::write_stdout(&mmsafe_report::render_diff(&m, &sa, &sb))?;
    }
    Ok(Outcome::Ok)
}
