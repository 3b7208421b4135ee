//! `mmsafe scan`: run suites × attacks × defenses × repeats against a target,
//! judge every response, store everything, print the summary.

use crate::cmd::runs::{load_calibrations, open_existing_store, summarize_run};
use crate::exit::{outln, usage, Outcome};
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
    /// `local:smollm2`, … (also `MMSAFE_TARGET`, which keeps credentials in a
    /// URL out of shell history; they are never stored: see docs/scan.md).
    #[arg(long, env = "MMSAFE_TARGET", hide_env_values = true)]
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
    // Negative numbers reach the range check below, which names the flag,
    // instead of clap's "unexpected argument '-1'".
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
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
    /// With --resume: send again the attempts recorded as target errors
    /// (timeouts, provider errors) and replace them with the new outcome.
    #[arg(long)]
    pub retry_errors: bool,
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
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
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
    /// Judge calibration (`mmsafe judge eval --save-calibration FILE`) for the
    /// judge-error corrected ASR (repeatable, one per judge).
    #[arg(long = "calibration", value_name = "FILE")]
    pub calibrations: Vec<PathBuf>,
}

/// Answer budget of the built-in offline scan (`mmsafe` with no arguments).
pub const OFFLINE_MAX_TOKENS: u32 = 64;

impl ScanArgs {
    /// `mmsafe` with no subcommand: the built-in offline defaults.
    pub fn default_offline() -> ScanArgs {
        ScanArgs {
            target: Some("local:smollm2".into()),
            suites: vec!["quick".into()],
            attacks: vec!["none".into(), "figstep".into()],
            judges: vec!["refusal".into()],
            // SmolLM2 answers almost every request at length; 64 tokens keep
            // the default run under 10 minutes on two cores and still show
            // whether it complied or refused.
            max_tokens: Some(OFFLINE_MAX_TOKENS),
            ..ScanArgs::default()
        }
    }

    /// `mmsafe scan` with neither a target, a suite nor a run to resume is
    /// bare `mmsafe`: the offline defaults, keeping any other flags given.
    fn or_offline_defaults(mut self) -> ScanArgs {
        if self.target.is_some() || !self.suites.is_empty() || self.resume.is_some() {
            return self;
        }
        let d = ScanArgs::default_offline();
        self.target = d.target;
        self.suites = d.suites;
        if self.attacks.is_empty() {
            self.attacks = d.attacks;
        }
        if self.judges.is_empty() {
            self.judges = d.judges;
        }
        if self.max_tokens.is_none() {
            self.max_tokens = d.max_tokens;
        }
        self
    }

    pub fn store_path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
    }
}

pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let args = args.or_offline_defaults();
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
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&mmsafe_report::render_json(&summary))?
                )?;
            } else {
                crate::exit::write_stdout(&mmsafe_report::render_terminal(&summary))?;
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
    if args.concurrency == Some(0) {
        return usage("--concurrency must be at least 1");
    }
    if args.repeats == Some(0) {
        return usage("--repeats must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return usage("--rate must be a positive number of requests per second");
    }
    if let Some(t) = args.timeout {
        // `inf` or 1e30 would not fit a Duration (a panic when the target is built).
        crate::flags::seconds("--timeout", t)?;
    }
    if args.max_tokens == Some(0) {
        return usage("--max-tokens must be at least 1");
    }
    if args.threads == Some(0) {
        return usage("--threads must be at least 1");
    }
    if args.retry_errors && args.resume.is_none() {
        return usage(
            "--retry-errors retries the failed attempts of a stored run: use it with --resume RUN",
        );
    }
    let calibration = load_calibrations(&args.calibrations)?;
    // Absolute, because a resume may change directory (below).
    let store_path = std::path::absolute(args.store_path())
        .with_context(|| format!("bad store path {}", args.store_path().display()))?;
    // A run has one writer at a time: the lock is held until the scan ends,
    // because a second scan of the run would send every pending case again.
    let mut run_lock = None;
    let (resumed, mut plan, seed) = match &args.resume {
        Some(q) => {
            let store = open_existing_store(&store_path)?;
            let run = store.resolve_run(q)?;
            check_resume_flags(args, &run)?;
            if !args.dry_run {
                run_lock = Some(store.lock_run(&run.id)?);
                announce_resume(&store, &run, args.retry_errors)?;
            }
            enter_run_dir(&run)?;
            let (plan, seed) = (run.plan.clone(), run.seed);
            (Some(run), plan, seed)
        }
        None => {
            let seed = args.seed.unwrap_or(0);
            (None, new_plan(args)?, seed)
        }
    };
    // The stored spec has its credentials redacted; the real one comes from
    // --target / MMSAFE_TARGET (checked against the stored one on resume).
    let target_spec = match &args.target {
        Some(t) => t.clone(),
        None if plan.target.contains(mmsafe_target::REDACTED) => bail!(
            "the target of this run had credentials in its spec, which are not stored ({}); \
             pass the full spec again with --target (or MMSAFE_TARGET)",
            plan.target
        ),
        None => plan.target.clone(),
    };
    let opts = target_options(args, &plan);
    tracing::info!("building plugins");
    let skip_broken = args.skip_broken || plan.options.get("skip_broken") == Some(&true.into());

    let target = targets::build_target(&target_spec, &opts)?;
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
    if resumed.is_none() && !args.dry_run {
        // Duplicate case ids fail here, before a run exists (the dry run's
        // estimate checks the same). One extra read of the suites, with its own
        // skip log so skipped rows are reported once.
        let check_opts = SuiteOptions {
            skip_broken,
            ..SuiteOptions::default()
        };
        let mut again: Vec<Box<dyn Source>> = Vec::new();
        for s in &plan.suites {
            again.push(suites::build_source(s, &check_opts)?);
        }
        let counted = tokio::task::spawn_blocking(move || mmsafe_engine::check_unique_ids(again))
            .await
            .context("suite check stopped unexpectedly")??;
        // Kept with the run so a report of a run that stopped early can say
        // how much of it is missing. Left out when an attack cannot say how
        // many cases it makes of one (a wrong figure is worse than none).
        let cases = counted.or_else(|| {
            sources
                .iter()
                .map(|s| s.len_hint().map(|n| n as u64))
                .sum::<Option<u64>>()
        });
        let planned = cases.and_then(|c| {
            mmsafe_engine::planned_attempts(c, &named_attacks, named_defenses.len(), plan.repeats)
        });
        if let Some(p) = planned {
            plan.options.insert("planned".into(), p.into());
        }
    }
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
        report_skipped(&suite_opts);
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
    let _run_lock = match run_lock {
        Some(lock) => lock,
        None => store.lock_run(&run.id)?,
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
        retry_errors: args.retry_errors,
    };
    let result = mmsafe_engine::scan(scan, sources, store, cancel, on_progress).await;
    tracing::info!(run = %run.id, "scan loop ended");
    report_skipped(&suite_opts);
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
    let summary = summarize_run(
        &store,
        &run.id,
        plan.judges.first().map(String::as_str),
        &calibration,
    )?;
    tracing::info!(run = %run.id, "summary computed");
    Ok(Ended::Completed {
        run,
        summary: Box::new(summary),
    })
}

/// Rows `--skip-broken` left out, after the scan: how many, and where.
fn report_skipped(opts: &SuiteOptions) {
    let skipped = opts.skipped.take();
    if skipped.is_empty() {
        return;
    }
    eprintln!(
        "skipped {} broken suite row{} (--skip-broken):",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" }
    );
    for s in skipped {
        eprintln!("  {s}");
    }
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
    let suites = args
        .suites
        .iter()
        .map(|s| absolute_suite(s))
        .collect::<Vec<_>>();
    for (i, s) in suites.iter().enumerate() {
        if let Some(j) = suites[..i].iter().position(|t| t == s) {
            return usage(format!(
                "--suite `{}` is given twice (as `{}` and `{}`): its case ids would collide; give each suite once",
                s, args.suites[j], args.suites[i]
            ));
        }
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
        target: mmsafe_target::redact_spec(&target),
        suites,
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
    if args
        .target
        .as_ref()
        .is_some_and(|t| mmsafe_target::redact_spec(t) != p.target)
    {
        conflicts.push("--target");
    }
    // Stored suite paths are absolute; compare the flags' the same way.
    let suites: Vec<String> = args.suites.iter().map(|s| absolute_suite(s)).collect();
    if !suites.is_empty() && suites != p.suites {
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

/// The suite spec with its file path made absolute (symlinks resolved), so a
/// resume from another directory finds the file. Specs without a path
/// (`quick`, `privacy`), unknown loaders and missing files are left as given:
/// opening them reports the problem with the spec as the user wrote it.
fn absolute_suite(spec: &str) -> String {
    let Ok((parsed, loader)) = mmsafe_data::registry::parse(spec) else {
        return spec.to_string();
    };
    if !loader.takes_path || parsed.path.is_empty() {
        return spec.to_string();
    }
    let Ok(abs) = std::fs::canonicalize(&parsed.path) else {
        return spec.to_string();
    };
    let Some(abs) = abs.to_str() else {
        return spec.to_string();
    };
    // Replace the path where it stands, keeping the loader and parameters
    // exactly as written.
    let spec = spec.trim();
    let head = format!("{}:", parsed.loader);
    let Some(rest) = spec.strip_prefix(&head) else {
        return spec.to_string();
    };
    match rest.find(parsed.path.as_str()) {
        Some(i) => format!(
            "{head}{}{abs}{}",
            &rest[..i],
            &rest[i + parsed.path.len()..]
        ),
        None => spec.to_string(),
    }
}

/// What a resume is about to do, on stderr: how much is already recorded and,
/// with `--retry-errors`, how many failed attempts will be sent again.
fn announce_resume(store: &Store, run: &Run, retry_errors: bool) -> anyhow::Result<()> {
    let recorded = store.count_attempts(&run.id)?;
    let errors = store.count_errors(&run.id)?;
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let what = if retry_errors {
        format!(
            "retrying {errors} errored attempt{}, keeping the other {}",
            plural(errors),
            recorded.saturating_sub(errors)
        )
    } else if errors > 0 {
        format!("skipping them, {errors} errored included (add --retry-errors to send those again)")
    } else {
        "skipping them".to_string()
    };
    eprintln!(
        "resuming run {}: {recorded} attempt{} recorded; {what}",
        run.id,
        plural(recorded)
    );
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
        // A stored plan from before the --timeout check may hold any number.
        timeout: Duration::try_from_secs_f64(timeout_s)
            .ok()
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs_f64(DEFAULT_TIMEOUT_S)),
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
        outln!("{}", serde_json::to_string_pretty(est)?)?;
        return Ok(());
    }
    let fan = if (est.fan_out - 1.0).abs() > 1e-9 && est.attacks > 0 {
        format!(" × {:.2} (attack fan-out)", est.fan_out)
    } else {
        String::new()
    };
    outln!(
        "{} cases × {} attacks{fan} × {} defenses × {} repeats = {} requests",
        est.cases,
        est.attacks,
        est.defenses,
        est.repeats,
        est.requests
    )?;
    match est.max_completion_tokens {
        Some(c) => outln!(
            "estimated tokens: ~{} prompt + up to {} completion",
            est.prompt_tokens,
            c
        )?,
        None => outln!("estimated tokens: ~{} prompt", est.prompt_tokens)?,
    }
    Ok(())
}

fn parse_gate(s: &str) -> anyhow::Result<(String, f64)> {
    let Some((k, v)) = s.split_once('=') else {
        return usage(format!(
            "--fail-above `{s}`: expected METRIC=X, e.g. asr=0.2"
        ));
    };
    let k = k.trim();
    if !matches!(k, "asr" | "over_refusal_rate" | "error_rate") {
        return usage(format!(
            "--fail-above `{s}`: unknown metric `{k}` (asr, over_refusal_rate, error_rate)"
        ));
    }
    let Some(x) = v.trim().parse::<f64>().ok().filter(|x| x.is_finite()) else {
        return usage(format!("--fail-above `{s}`: `{v}` is not a number"));
    };
    // Rates live in [0, 1]; a threshold outside can never (or always) fail.
    if !(0.0..=1.0).contains(&x) {
        return usage(format!(
            "--fail-above `{s}`: {x} is outside 0..=1 ({k} is a rate)"
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_without_target_or_suite_is_the_offline_default() {
        let d = ScanArgs::default().or_offline_defaults();
        let o = ScanArgs::default_offline();
        assert_eq!(
            (d.target, d.suites, d.attacks, d.judges),
            (o.target, o.suites, o.attacks, o.judges)
        );
        // Other flags stay; a given target or resume turns the defaults off.
        let d = ScanArgs {
            dry_run: true,
            ..ScanArgs::default()
        }
        .or_offline_defaults();
        assert!(d.dry_run && d.target.as_deref() == Some("local:smollm2"));
        let r = ScanArgs {
            resume: Some("r1".into()),
            ..ScanArgs::default()
        }
        .or_offline_defaults();
        assert!(r.target.is_none() && r.suites.is_empty());
    }

    #[test]
    fn suite_paths_are_stored_absolute_with_parameters_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.csv");
        std::fs::write(&f, "prompt\nhi\n").unwrap();
        let abs = std::fs::canonicalize(&f).unwrap();
        let abs = abs.to_str().unwrap();
        let spec = format!("csv:{}:text=prompt,id=n", f.display());
        assert_eq!(absolute_suite(&spec), format!("csv:{abs}:text=prompt,id=n"));
        // Built-in suites and missing files stay as given.
        assert_eq!(absolute_suite("quick"), "quick");
        assert_eq!(absolute_suite("figstep:nope.csv"), "figstep:nope.csv");
    }

    #[test]
    fn gate_values_are_rates() {
        assert!(parse_gate("asr=0.2").is_ok());
        assert!(parse_gate("error_rate=0").is_ok());
        for bad in ["asr=1.5", "asr=-0.1", "asr=abc", "asr", "foo=0.1"] {
            let e = parse_gate(bad).unwrap_err();
            assert!(
                e.downcast_ref::<crate::exit::UsageError>().is_some(),
                "{bad}"
            );
        }
    }
}
