//! `mmsafe runs list|show|diff`: what the store holds.

use crate::exit::Outcome;
use anyhow::bail;
use mmsafe_metrics::{Summary, SummaryOptions};
use mmsafe_store::Store;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    which: Which,
    /// Run store (SQLite) [default: ./mmsafe.db].
    #[arg(long, value_name = "FILE", env = "MMSAFE_STORE", global = true)]
    store: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
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
    let path = args
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::cmd::scan::DEFAULT_STORE));
    let store = open_existing_store(&path)?;
    match args.which {
        Which::List => list(&store, args.json),
        Which::Show { run, judge } => show(&store, &run, judge.as_deref(), args.json),
        Which::Diff { a, b, judge } => diff(&store, &a, &b, judge.as_deref(), args.json),
    }
}

/// Open a store that must already exist (reading commands never create one).
pub(crate) fn open_existing_store(path: &Path) -> anyhow::Result<Store> {
    if !path.exists() {
        bail!(
            "no run store at {} (run `mmsafe scan` first, or pass --store FILE)",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}

/// The summary of one run under one judge (default: the run's first judge).
pub(crate) fn summarize_run(
    store: &Store,
    run_id: &str,
    judge: Option<&str>,
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
    let opts = SummaryOptions {
        judge: judge.map(String::from),
        ..SummaryOptions::default()
    };
    Ok(mmsafe_metrics::summarize(run_id, &obs, &opts))
}

fn list(store: &Store, json: bool) -> anyhow::Result<Outcome> {
    let runs = store.list_runs()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(Outcome::Ok);
    }
    if runs.is_empty() {
        println!("no runs in {}", store.path().display());
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
    println!("{}", line(&header.map(String::from)));
    for r in &rows {
        println!("{}", line(r));
    }
    Ok(Outcome::Ok)
}

fn show(store: &Store, q: &str, judge: Option<&str>, json: bool) -> anyhow::Result<Outcome> {
    let run = store.resolve_run(q)?;
    let attempts = store.count_attempts(&run.id)?;
    let summary = summarize_run(
        store,
        &run.id,
        judge.or(run.plan.judges.first().map(String::as_str)),
    )?;
    if json {
        let v = serde_json::json!({
            "run": run,
            "recorded_attempts": attempts,
            "summary": mmsafe_report::render_json(&summary),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Outcome::Ok);
    }
    let p = &run.plan;
    println!("run       {}", run.id);
    if let Some(n) = &run.name {
        println!("name      {n}");
    }
    println!("status    {}", run.status);
    println!(
        "created   {}{}",
        run.created,
        run.finished
            .as_deref()
            .map(|f| format!(" · finished {f}"))
            .unwrap_or_default()
    );
    println!("target    {}", p.target);
    println!("suites    {}", p.suites.join(", "));
    println!("attacks   {}", p.attacks.join(", "));
    println!("defenses  {}", p.defenses.join(", "));
    println!("judges    {}", p.judges.join(", "));
    println!(
        "repeats   {} · max tokens {} · seed {}",
        p.repeats,
        p.max_tokens
            .map_or("default".to_string(), |m| m.to_string()),
        run.seed
    );
    let versions: Vec<String> = run
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("versions  {}", versions.join(" · "));
    println!("attempts  {attempts} recorded");
    println!();
    print!("{}", mmsafe_report::render_terminal(&summary));
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
    let sa = summarize_run(store, &ra.id, j.as_deref())?;
    let sb = summarize_run(store, &rb.id, j.as_deref())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&mmsafe_report::render_diff_json(&m, &sa, &sb))?
        );
    } else {
        print!("{}", mmsafe_report::render_diff(&m, &sa, &sb));
    }
    Ok(Outcome::Ok)
}
