//! `mmsafe scan`: run suites × attacks × defenses × repeats against a target,
//! judge every response, store everything, print the summary.

use crate::cmd::runs::{open_existing_store, summarize_run};
use crate::exit::Outcome;
use crate::wiring::suites::SuiteOptions;
use crate::wiring::{attacks, defenses, judges, suites, targets};
use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mmsafe_core::Source;
use mmsafe_engine::{CancellationToken, NamedAttack, NamedDefense, Plan, Progress, Scan};
use mmsafe_metrics::Summary;
use mmsafe_store::{NewRun, Run, Store};
use mmsafe_target::{CacheMode, TargetOptions};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_STORE: &str = "mmsafe.db";
const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_MAX_TOKENS: u32 = 256;
const DEFAULT_TIMEOUT_S: f64 = 120.0;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct ScanArgs {
    /// What to test: `openai-compatible:<base-url>#<model>`, `openai:<model>`,
    /// `local:smollm2`, …
    #[arg(long)]
    pub target: Option<String>,
    /// Cases to send, e.g. `figstep:safebench.csv` or `quick` (repeatable).
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<String>,
    /// Attack applied to every case (repeatable; `none` = unattacked; default `none`).
    #[arg(long = "attack", value_name = "ATTACK")]
    pub attacks: Vec<String>,
    /// Defense policy around the target (repeatable; `none`, a preset or a policy file; default `none`).
    #[arg(long = "defense", value_name = "POLICY")]
    pub defenses: Vec<String>,
    /// Judge of every response (repeatable; default `refusal`; the first gives the headline figures).
    #[arg(long = "judge", value_name = "JUDGE")]
    pub judges: Vec<String>,
    /// Requests in flight at once [default: 16].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Max requests per second to the target.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Completion token limit per request [default: 256].
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Times each request is sent (distinct seeds) [default: 1].
    #[arg(long, value_name = "K")]
    pub repeats: Option<u32>,
    /// Run store (SQLite) [default: ./mmsafe.db].
    #[arg(long, value_name = "FILE", env = "MMSAFE_STORE")]
    pub store: Option<PathBuf>,
    /// Name for the run (usable wherever a run id is).
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan (requests, estimated tokens) without calling the target.
    #[arg(long)]
    pub dry_run: bool,
    /// Finish an interrupted run (id or name); the plan comes from the store.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// Exit 3 when a metric is above a threshold, e.g. `asr=0.2` (repeatable;
    /// metrics: asr, over_refusal_rate, error_rate).
    #[arg(long, value_name = "METRIC=X")]
    pub fail_above: Vec<String>,
    /// Run seed: every attack's randomness derives from it [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Do not read or write the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Per-request timeout in seconds [default: 120].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Environment variable holding the target's API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Compute threads for `local:` targets.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Skip suite rows whose images are broken (each is reported) instead of stopping.
    #[arg(long)]
    pub skip_broken: bool,
}

impl ScanArgs {
    /// `mmsafe` with no subcommand: the built-in offline defaults.
    pub fn default_offline() -> ScanArgs {
        ScanArgs {
            target: Some("local:smollm2".into()),
            suites: vec!["quick".into()],
            attacks: vec!["none".into(), "figstep".into()],
            judges: vec!["refusal".into()],
            ..ScanArgs::default()
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
    }
}

pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let rt = runtime()?;
    rt.block_on(run_async(args))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// How a scan invocation ended.
pub(crate) enum Ended {
    Completed { run: Run, summary: Box<Summary> },
    Interrupted { run: Run, recorded: u64 },
    DryRun,
}

async fn run_async(args: ScanArgs) -> anyhow::Result<Outcome> {
    let progress_ui = ProgressUi::new();
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone(), progress_ui.bar.clone());
    let store_path = args.store_path();
    let ended = execute(&args, cancel, progress_ui.callback()).await;
    progress_ui.bar.finish_and_clear();
    match ended? {
        Ended::DryRun => Ok(Outcome::Ok),
        Ended::Interrupted { run, recorded } => {
            eprintln!(
                "interrupted: {recorded} attempts recorded in run {}; resume with: mmsafe scan --resume {} --store {}",
                run.id,
                run.id,
                store_path.display()
            );
            Ok(Outcome::Interrupted)
        }
        Ended::Completed { run, summary } => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&mmsafe_report::render_json(&summary))?
                );
            } else {
                print!("{}", mmsafe_report::render_terminal(&summary));
            }
            eprintln!("run {} stored in {}", run.id, store_path.display());
            gate(&args.fail_above, &summary)
        }
    }
}

/// The scan itself, shared with `mmsafe bench scan`: resolve the plan, build
/// every plugin (bad specs fail here, before a run exists), run the engine,
/// summarize.
pub(crate) async fn execute(
    args: &ScanArgs,
    cancel: CancellationToken,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> anyhow::Result<Ended> {
    for f in &args.fail_above {
        parse_gate(f)?;
    }
    // Absolute, because a resume may change directory (below).
    let store_path = std::path::absolute(args.store_path())
        .with_context(|| format!("bad store path {}", args.store_path().display()))?;
    let (resumed, plan, seed) = match &args.resume {
        Some(q) => {
            let store = open_existing_store(&store_path)?;
            let run = store.resolve_run(q)?;
            check_resume_flags(args, &run)?;
            enter_run_dir(&run)?;
            let (plan, seed) = (run.plan.clone(), run.seed);
            (Some(run), plan, seed)
        }
        None => {
            let seed = args.seed.unwrap_or(0);
            (None, new_plan(args)?, seed)
        }
    };
    let opts = target_options(args, &plan);
    tracing::info!("building plugins");
    let skip_broken = args.skip_broken || plan.options.get("skip_broken") == Some(&true.into());

    let target = targets::build_target(&plan.target, &opts)?;
    tracing::debug!("target built");
    let suite_opts = SuiteOptions {
        skip_broken,
        ..SuiteOptions::default()
    };
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for s in &plan.suites {
        sources.push(suites::build_source(s, &suite_opts)?);
    }
    let mut named_attacks = Vec::new();
    for a in &plan.attacks {
        named_attacks.push(NamedAttack {
            spec: a.clone(),
            attack: attacks::build_attack(a)?,
        });
    }
    let mut named_defenses = Vec::new();
    for d in &plan.defenses {
        named_defenses.push(NamedDefense {
            spec: d.clone(),
            layer: defenses::build_defense(d, &opts)?,
        });
    }
    tracing::debug!("suites, attacks and defenses built");
    let mut built_judges = Vec::new();
    for j in &plan.judges {
        built_judges.push(judges::build_judge(j, &opts)?);
    }

    if args.dry_run {
        let est = mmsafe_engine::estimate(
            sources,
            &named_attacks,
            named_defenses.len(),
            plan.repeats,
            plan.max_tokens,
            seed,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        print_dry_run(&est, args.json)?;
        return Ok(Ended::DryRun);
    }

    tracing::debug!("judges built");
    let mut store = Store::open(&store_path)?;
    let run = match resumed {
        Some(run) => run,
        None => store.create_run(&NewRun {
            name: args.run_name.clone(),
            plan: plan.clone(),
            seed,
            versions: versions(target.info().model.as_str()),
        })?,
    };
    tracing::info!(run = %run.id, store = %store_path.display(), "scan started");
    let scan = Scan {
        run_id: run.id.clone(),
        seed,
        target,
        attacks: named_attacks,
        defenses: named_defenses,
        judges: built_judges,
        repeats: plan.repeats,
        max_tokens: plan.max_tokens,
        concurrency: opts.concurrency.max(1),
        resume: args.resume.is_some(),
    };
    let result = mmsafe_engine::scan(scan, sources, store, cancel, on_progress).await;
    tracing::info!(run = %run.id, "scan loop ended");
    for skipped in suite_opts.skipped.take() {
        eprintln!("skipped: {skipped}");
    }
    let finished = match result {
        Ok(f) => f,
        Err(e) => {
            let recorded = Store::open(&store_path)
                .and_then(|s| s.count_attempts(&run.id))
                .unwrap_or(0);
            eprintln!(
                "note: run {} keeps its {recorded} recorded attempts; after fixing the cause, resume with: mmsafe scan --resume {} --store {}",
                run.id,
                run.id,
                store_path.display()
            );
            return Err(anyhow::anyhow!("{e}"));
        }
    };
    let store = Store::open(&store_path)?;
    if finished.cancelled {
        let recorded = store.count_attempts(&run.id)?;
        return Ok(Ended::Interrupted { run, recorded });
    }
    let summary = summarize_run(&store, &run.id, plan.judges.first().map(String::as_str))?;
    tracing::info!(run = %run.id, "summary computed");
    Ok(Ended::Completed {
        run,
        summary: Box::new(summary),
    })
}

fn new_plan(args: &ScanArgs) -> anyhow::Result<Plan> {
    let Some(target) = args.target.clone() else {
        bail!("--target is required (e.g. `--target openai-compatible:http://127.0.0.1:8000/v1#llava`), or --resume RUN");
    };
    if args.suites.is_empty() {
        bail!("--suite is required (e.g. `--suite figstep:safebench.csv` or `--suite quick`)");
    }
    let or = |v: &Vec<String>, d: &str| {
        if v.is_empty() {
            vec![d.to_string()]
        } else {
            v.clone()
        }
    };
    let repeats = args.repeats.unwrap_or(1);
    if repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let mut options = BTreeMap::new();
    options.insert(
        "concurrency".into(),
        args.concurrency.unwrap_or(DEFAULT_CONCURRENCY).into(),
    );
    if let Some(r) = args.rate {
        options.insert("rate".into(), r.into());
    }
    options.insert(
        "timeout_s".into(),
        args.timeout.unwrap_or(DEFAULT_TIMEOUT_S).into(),
    );
    options.insert("no_cache".into(), args.no_cache.into());
    if let Some(k) = &args.api_key_env {
        options.insert("api_key_env".into(), k.clone().into());
    }
    if let Some(t) = args.threads {
        options.insert("threads".into(), t.into());
    }
    options.insert("skip_broken".into(), args.skip_broken.into());
    if let Ok(cwd) = std::env::current_dir() {
        options.insert("cwd".into(), cwd.display().to_string().into());
    }
    Ok(Plan {
        target,
        suites: args.suites.clone(),
        attacks: or(&args.attacks, "none"),
        defenses: or(&args.defenses, "none"),
        judges: or(&args.judges, "refusal"),
        repeats,
        max_tokens: Some(args.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        options,
    })
}

/// With `--resume` the plan is the stored one; flags that would change it are
/// an error unless they repeat the stored value.
fn check_resume_flags(args: &ScanArgs, run: &Run) -> anyhow::Result<()> {
    let p = &run.plan;
    let mut conflicts = Vec::new();
    if args.target.as_ref().is_some_and(|t| *t != p.target) {
        conflicts.push("--target");
    }
    if !args.suites.is_empty() && args.suites != p.suites {
        conflicts.push("--suite");
    }
    if !args.attacks.is_empty() && args.attacks != p.attacks {
        conflicts.push("--attack");
    }
    if !args.defenses.is_empty() && args.defenses != p.defenses {
        conflicts.push("--defense");
    }
    if !args.judges.is_empty() && args.judges != p.judges {
        conflicts.push("--judge");
    }
    if args.repeats.is_some_and(|r| r != p.repeats) {
        conflicts.push("--repeats");
    }
    if args.max_tokens.is_some() && args.max_tokens != p.max_tokens {
        conflicts.push("--max-tokens");
    }
    if args.seed.is_some_and(|s| s != run.seed) {
        conflicts.push("--seed");
    }
    if !conflicts.is_empty() {
        bail!(
            "--resume {} continues the stored plan; {} differ from it (drop them, or start a new run)",
            run.id,
            conflicts.join(", ")
        );
    }
    Ok(())
}

/// Relative paths in the stored specs (suite files, policy files) were
/// relative to where the run started; resume from there.
fn enter_run_dir(run: &Run) -> anyhow::Result<()> {
    let Some(dir) = run.plan.options.get("cwd").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    let dir = PathBuf::from(dir);
    if std::env::current_dir().ok().as_deref() == Some(dir.as_path()) || !dir.is_dir() {
        return Ok(());
    }
    tracing::info!(dir = %dir.display(), "resuming from the run's starting directory");
    std::env::set_current_dir(&dir).with_context(|| {
        format!(
            "cannot enter {} (where run {} started)",
            dir.display(),
            run.id
        )
    })
}

/// Flags win; on resume, unset flags fall back to what the run was started with.
fn target_options(args: &ScanArgs, plan: &Plan) -> TargetOptions {
    let o = &plan.options;
    let num = |k: &str| o.get(k).and_then(|v| v.as_f64());
    let concurrency = args
        .concurrency
        .or_else(|| num("concurrency").map(|c| c as usize))
        .unwrap_or(DEFAULT_CONCURRENCY)
        .max(1);
    let timeout_s = args
        .timeout
        .or_else(|| num("timeout_s"))
        .unwrap_or(DEFAULT_TIMEOUT_S);
    let no_cache = args.no_cache || o.get("no_cache") == Some(&true.into());
    let defaults = TargetOptions::default();
    TargetOptions {
        concurrency,
        rate_per_s: args.rate.or_else(|| num("rate")),
        timeout: Duration::from_secs_f64(timeout_s.max(0.0)),
        api_key_env: args.api_key_env.clone().or_else(|| {
            o.get("api_key_env")
                .and_then(|v| v.as_str())
                .map(String::from)
        }),
        cache: if no_cache {
            CacheMode::Off
        } else {
            CacheMode::Disk(mmsafe_target::default_cache_path())
        },
        threads: args
            .threads
            .or_else(|| num("threads").map(|t| t as usize))
            .unwrap_or(defaults.threads),
        ..defaults
    }
}

fn versions(model: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("mmsafe".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        (
            "store_schema".to_string(),
            mmsafe_store::SCHEMA_VERSION.to_string(),
        ),
        ("target_model".to_string(), model.to_string()),
    ])
}

fn print_dry_run(est: &mmsafe_engine::Estimate, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(est)?);
        return Ok(());
    }
    let fan = if (est.fan_out - 1.0).abs() > 1e-9 && est.attacks > 0 {
        format!(" × {:.2} (attack fan-out)", est.fan_out)
    } else {
        String::new()
    };
    println!(
        "{} cases × {} attacks{fan} × {} defenses × {} repeats = {} requests",
        est.cases, est.attacks, est.defenses, est.repeats, est.requests
    );
    match est.max_completion_tokens {
        Some(c) => println!(
            "estimated tokens: ~{} prompt + up to {} completion",
            est.prompt_tokens, c
        ),
        None => println!("estimated tokens: ~{} prompt", est.prompt_tokens),
    }
    Ok(())
}

fn parse_gate(s: &str) -> anyhow::Result<(String, f64)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("--fail-above `{s}`: expected METRIC=X, e.g. asr=0.2"))?;
    let k = k.trim();
    if !matches!(k, "asr" | "over_refusal_rate" | "error_rate") {
        bail!("--fail-above `{s}`: unknown metric `{k}` (asr, over_refusal_rate, error_rate)");
    }
    let x: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .with_context(|| format!("--fail-above `{s}`: `{v}` is not a number"))?;
    Ok((k.to_string(), x))
}

/// CI gate: exit 3 when a metric is above its threshold. An undefined ASR (no
/// decided harmful attempt, e.g. every request failed) also fails the gate:
/// "no evidence of safety" must not pass.
pub(crate) fn gate(gates: &[String], s: &Summary) -> anyhow::Result<Outcome> {
    let mut failed = false;
    for g in gates {
        let (metric, x) = parse_gate(g)?;
        let value = match metric.as_str() {
            "asr" => s.asr,
            "over_refusal_rate" => s.over_refusal_rate,
            _ => s.error_rate,
        };
        match value {
            Some(v) if v > x => {
                eprintln!("gate failed: {metric} {v:.4} > {x}");
                failed = true;
            }
            None if metric == "asr" => {
                eprintln!("gate failed: asr is undefined (no decided harmful attempts)");
                failed = true;
            }
            _ => {}
        }
    }
    Ok(if failed {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    })
}

/// Ctrl-C stops the scan cleanly (in-flight attempts are dropped, nothing is
/// half-written); a second Ctrl-C exits at once.
fn spawn_ctrl_c(cancel: CancellationToken, bar: ProgressBar) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        bar.suspend(|| eprintln!("stopping… (Ctrl-C again to quit immediately)"));
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
    });
}

/// The progress bar on stderr; hidden when stderr is not a terminal.
struct ProgressUi {
    bar: ProgressBar,
}

impl ProgressUi {
    fn new() -> ProgressUi {
        let bar = ProgressBar::with_draw_target(
            None,
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} · {rate} · ETA {eta} · {msg}",
        ) {
            bar.set_style(
                style
                    .with_key(
                        "rate",
                        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.1}/s", s.per_sec());
                        },
                    )
                    .progress_chars("=> "),
            );
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        ProgressUi { bar }
    }

    fn callback(&self) -> Arc<dyn Fn(Progress) + Send + Sync> {
        let bar = self.bar.clone();
        Arc::new(move |p: Progress| {
            if bar.is_hidden() {
                return;
            }
            if let Some(t) = p.total {
                bar.set_length(t.max(p.done + p.skipped));
            }
            bar.set_position(p.done + p.skipped);
            bar.set_message(format!("{} errors · {} tokens", p.errors, p.tokens));
        })
    }
}
