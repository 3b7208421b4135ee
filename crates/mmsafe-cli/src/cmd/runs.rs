//! `mmsafe runs list|show|diff`: what the store holds.

use crate::exit::{outln, Outcome};
use crate::flags::{JsonArg, StoreArg};
use anyhow::{bail, Context as _};
use mmsafe_metrics::{JudgeCalibration, Summary, SummaryOptions};
use mmsafe_store::{Run, RunStatus, Store};
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
    let store = open_existing_store(&args.store.path())?;
    let json = args.out.json;
    match args.which {
        Which::List => list(&store, json),
        Which::Show {
            run,
            judge,
            calibrations,
        } => {
            let cal = load_calibrations(&calibrations)?;
            show(&store, &run, judge.as_deref(), &cal, json)
        }
        Which::Diff { a, b, judge } => diff(&store, &a, &b, judge.as_deref(), json),
    }
}

/// Open a store that must already exist (reading commands never create one).
pub fn open_existing_store(path: &Path) -> anyhow::Result<Store> {
    if !path.exists() {
        bail!(
            "no run store at {} (run `mmsafe scan` first, or pass --store FILE)",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}

/// The summary of one run under one judge (default: the run's first judge).
pub fn summarize_run(
    store: &Store,
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

fn list(store: &Store, json: bool) -> anyhow::Result<Outcome> {
    let mut runs = store.list_runs()?;
    for r in &mut runs {
        r.run.plan.target = mmsafe_target::redact_spec(&r.run.plan.target);
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&runs)?)?;
        return Ok(Outcome::Ok);
    }
    if runs.is_empty() {
        outln!("no runs in {}", store.path().display())?;
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
    store: &Store,
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
    store: &Store,
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
