//! `mmsafe scan`: run suites × attacks × defenses × repeats against a target,
//! judge every response, store everything, print the summary.

use crate::cmd::runs::{load_calibrations, summarize_run};
use crate::exit::{outln, usage, Outcome};
use crate::flags::{JsonArg, StoreArg, TargetOpsArgs};
use crate::wiring::suites::SuiteOptions;
use crate::wiring::{attacks, defenses, judges, suites, targets};
use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mmsafe_core::Source;
use mmsafe_engine::{CancellationToken, NamedAttack, NamedDefense, Plan, Progress, Scan};
use mmsafe_metrics::Summary;
use mmsafe_store::{NewRun, Run, RunOptions, RunStore, Shard};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_MAX_TOKENS: u32 = 256;

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
    #[command(flatten)]
    pub ops: TargetOpsArgs,
    /// Completion token limit per request [default: 256].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Times each request is sent (distinct seeds) [default: 1].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: Option<u32>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Name for the run (usable wherever a run id is). With --shard, every
    /// shard passes the same name and they fill one run.
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Run the I-th of N disjoint slices of the plan (0-based, e.g. `0/4`):
    /// N workers with the same --run-name fill one run (docs/scale.md).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    #[command(flatten)]
    pub out: JsonArg,
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
    /// Skip suite rows whose images are broken (each is reported) instead of stopping.
    #[arg(long)]
    pub skip_broken: bool,
    /// Judge calibration (`mmsafe judge eval --save-calibration FILE`) for the
    /// judge-error corrected ASR (repeatable, one per judge).
    #[arg(long = "calibration", value_name = "FILE")]
    pub calibrations: Vec<PathBuf>,
}

/// Answer budget of the built-in offline scan (`mmsafe` with no arguments).
pub const OFFLINE_MAX_TOKENS: u32 = 48;

/// The suite of the built-in offline scan: half of `quick` (25 harmful
/// requests over all 13 hazards and their 25 benign look-alikes). Four
/// slices of the whole suite measured 15 min on two busy cores; half keeps
/// the first run within its 10 minutes (docs/benchmarks.md).
pub const OFFLINE_SUITE: &str = "quick:pairs=25";

/// The target of a scan that names none (and resumes nothing).
pub const OFFLINE_TARGET: &str = "local:smollm2";

impl ScanArgs {
    /// `mmsafe` with no subcommand: the built-in offline defaults. Besides the
    /// plain requests it runs one typographic attack (FigStep) and the default
    /// guard (`balanced`), so the first report shows what an image attack adds
    /// and what the guard takes away.
    pub fn default_offline() -> ScanArgs {
        ScanArgs {
            target: Some(OFFLINE_TARGET.into()),
            suites: vec![OFFLINE_SUITE.into()],
            attacks: vec!["none".into(), "figstep".into()],
            defenses: vec!["none".into(), "balanced".into()],
            judges: vec!["refusal".into()],
            // SmolLM2 answers almost every request at length, so the answer
            // budget sets the run time; 48 tokens still show whether it
            // complied or refused.
            max_tokens: Some(OFFLINE_MAX_TOKENS),
            ..ScanArgs::default()
        }
    }

    /// A scan that names no target (and resumes no run) is the offline scan:
    /// every flag given is kept, every other one takes the offline default
    /// (`mmsafe scan --suite quick` scans `quick` against `local:smollm2`).
    fn or_offline_defaults(mut self) -> ScanArgs {
        if self.target.is_some() || self.resume.is_some() {
            return self;
        }
        let d = ScanArgs::default_offline();
        self.target = d.target;
        let fill = |v: &mut Vec<String>, d: Vec<String>| {
            if v.is_empty() {
                *v = d;
            }
        };
        fill(&mut self.suites, d.suites);
        fill(&mut self.attacks, d.attacks);
        fill(&mut self.defenses, d.defenses);
        fill(&mut self.judges, d.judges);
        self.max_tokens = self.max_tokens.or(d.max_tokens);
        self
    }

    pub fn store_path(&self) -> PathBuf {
        self.store.path()
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse::<Shard>().map_err(|e| e.to_string())
}

pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let args = args.or_offline_defaults();
    let rt = runtime()?;
    rt.block_on(run_async(args))
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// How a scan invocation ended.
pub enum Ended {
    Completed {
        run: Run,
        summary: Box<Summary>,
        /// What the image attack adds and the guard removes, when the plan
        /// has the plain and undefended slices to compare with.
        first_look: Option<String>,
    },
    Interrupted {
        run: Run,
        recorded: u64,
    },
    /// One shard of a sharded run finished (`--shard`): the run's figures
    /// wait for the report of the whole run.
    ShardDone {
        run: Run,
        shard: Shard,
    },
    DryRun,
}

async fn run_async(args: ScanArgs) -> anyhow::Result<Outcome> {
    let progress_ui = ProgressUi::new();
    let cancel = CancellationToken::new();
    spawn_ctrl_c(cancel.clone(), progress_ui.bar.clone());
    let store_desc = args.store.describe();
    let ended = execute(&args, cancel, progress_ui.callback()).await;
    progress_ui.bar.finish_and_clear();
    match ended? {
        Ended::DryRun => Ok(Outcome::Ok),
        Ended::Interrupted { run, recorded } => {
            let shard = args
                .shard
                .map(|s| format!(" --shard {s}"))
                .unwrap_or_default();
            eprintln!(
                "interrupted: {recorded} attempts recorded in run {}; resume with: mmsafe scan --resume {}{shard} --store {store_desc}",
                run.id,
                run.id,
            );
            Ok(Outcome::Interrupted)
        }
        Ended::ShardDone { run, shard } => {
            // One shard's figures would read like the run's: the report job
            // (or `mmsafe report RUN`) summarizes once every shard is in.
            eprintln!(
                "shard {shard} of run {} done; the run is {} (see `mmsafe runs status {} --store {store_desc}`)",
                run.id, run.status, run.id
            );
            Ok(Outcome::Ok)
        }
        Ended::Completed {
            run,
            summary,
            first_look,
        } => {
            if args.out.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&mmsafe_report::render_json(&summary))?
                )?;
            } else {
                crate::exit::write_stdout(&mmsafe_report::render_terminal(&summary))?;
                if let Some(line) = first_look {
                    outln!("\nIn short: {line}.")?;
                }
            }
            eprintln!("run {} stored in {store_desc}", run.id);
            gate(&args.fail_above, &summary)
        }
    }
}

/// The scan itself, shared with `mmsafe bench scan`: resolve the plan, build
/// every plugin (bad specs fail here, before a run exists), run the engine,
/// summarize.
pub async fn execute(
    args: &ScanArgs,
    cancel: CancellationToken,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> anyhow::Result<Ended> {
    for f in &args.fail_above {
        parse_gate(f)?;
    }
    if args.retry_errors && args.resume.is_none() {
        return usage(
            "--retry-errors retries the failed attempts of a stored run: use it with --resume RUN",
        );
    }
    if args.shard.is_some() && args.resume.is_none() && args.run_name.is_none() {
        return usage(
            "--shard needs --run-name NAME (every shard of the run passes the same name), or --resume RUN",
        );
    }
    if args.shard.is_some() && !args.fail_above.is_empty() {
        return usage(
            "--fail-above gates a whole run, not one shard: gate the report of the run once every shard is done",
        );
    }
    let calibration = load_calibrations(&args.calibrations)?;
    // Absolute, because a resume may change directory (below).
    let store_arg = match args.store.postgres_url() {
        Some(_) => args.store.clone(),
        None => crate::flags::StoreArg::at(
            std::path::absolute(args.store_path())
                .with_context(|| format!("bad store path {}", args.store_path().display()))?,
        ),
    };
    let store_desc = store_arg.describe();
    // A run has one writer at a time: the lock is held until the scan ends,
    // because a second scan of the run would send every pending case again.
    let mut run_lock = None;
    // The store is opened once: a resume reads the run from it before any
    // plugin is built, a new run is created in it after.
    let mut store = None;
    let (resumed, mut plan, seed) = match &args.resume {
        Some(q) => {
            let s = store_arg.open_existing()?;
            let run = s.resolve_run(q)?;
            check_resume_flags(args, &run)?;
            if let Some(shard) = args.shard {
                check_shard_count(s.as_ref(), &run, shard)?;
            }
            if !args.dry_run {
                run_lock = Some(s.lock(&run.id, args.shard)?);
                announce_resume(s.as_ref(), &run, args.retry_errors)?;
            }
            enter_run_dir(&run)?;
            let (plan, seed) = (run.plan.clone(), run.seed);
            store = Some(s);
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
    // Flags win; on resume, unset flags fall back to what the run was started
    // with. Resolved here, once, into what every target of the run uses.
    let settings = args.ops.over(&plan.options);
    let opts = crate::flags::run_target_options(&settings);
    tracing::info!("building plugins");
    let skip_broken = args.skip_broken || settings.skip_broken();

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
        // estimate checks the same). Sources read from the start on every
        // pass, so the scan reads them again below; this pass's skip log is
        // dropped so skipped rows are reported once.
        let (checked, counted) = tokio::task::spawn_blocking(move || {
            let counted = mmsafe_engine::check_unique_ids(&mut sources);
            (sources, counted)
        })
        .await
        .context("suite check stopped unexpectedly")?;
        sources = checked;
        let counted = counted?;
        suite_opts.skipped.take();
        // Kept with the run so a report of a run that stopped early can say
        // how much of it is missing. Left out when an attack cannot say how
        // many cases it makes of one (a wrong figure is worse than none).
        let cases = counted.or_else(|| {
            sources
                .iter()
                .map(|s| s.len_hint().map(|n| n as u64))
                .sum::<Option<u64>>()
        });
        plan.options.planned = cases.and_then(|c| {
            mmsafe_engine::planned_attempts(c, &named_attacks, named_defenses.len(), plan.repeats)
        });
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
        print_dry_run(&est, args.out.json)?;
        return Ok(Ended::DryRun);
    }

    tracing::debug!("judges built");
    let mut store = match store {
        Some(s) => s,
        None => store_arg.open()?,
    };
    let new_run = NewRun {
        name: args.run_name.clone(),
        plan: plan.clone(),
        seed,
        versions: versions(target.info().model.as_str()),
    };
    // A shard joins the run its name stands for (the first one to start
    // creates it); joining skips what the run already recorded, so a
    // resubmitted shard picks up where it stopped.
    let mut joined = false;
    let run = match (resumed, args.shard, &args.run_name) {
        (Some(run), _, _) => run,
        (None, Some(shard), Some(name)) => {
            let id = mmsafe_store::shard::sharded_run_id(name);
            let (run, existed) = store.create_or_join_run(&id, &new_run, shard)?;
            joined = existed;
            run
        }
        (None, _, _) => store.create_run(&new_run)?,
    };
    let _run_lock = match run_lock {
        Some(lock) => lock,
        None => store.lock(&run.id, args.shard)?,
    };
    if joined {
        let recorded = store.count_attempts(&run.id)?;
        eprintln!(
            "joining run {} as shard {}: {recorded} attempts of the run already recorded; this shard's are skipped",
            run.id,
            args.shard.map(|s| s.to_string()).unwrap_or_default()
        );
    }
    tracing::info!(run = %run.id, store = %store_desc, "scan started");
    let scan = Scan {
        run_id: run.id.clone(),
        seed,
        target,
        attacks: named_attacks,
        defenses: named_defenses,
        judges: built_judges,
        repeats: plan.repeats,
        max_tokens: plan.max_tokens,
        concurrency: opts.concurrency,
        resume: args.resume.is_some() || joined,
        retry_errors: args.retry_errors,
        shard: args.shard,
    };
    let (result, store) =
        mmsafe_engine::scan_keeping_store(scan, sources, store, cancel, on_progress).await;
    tracing::info!(run = %run.id, "scan loop ended");
    report_skipped(&suite_opts);
    let finished = match result {
        Ok(f) => f,
        Err(e) => {
            let recorded = store
                .and_then(|s| s.count_attempts(&run.id).ok())
                .unwrap_or(0);
            let shard = args
                .shard
                .map(|s| format!(" --shard {s}"))
                .unwrap_or_default();
            eprintln!(
                "note: run {} keeps its {recorded} recorded attempts; after fixing the cause, resume with: mmsafe scan --resume {}{shard} --store {store_desc}",
                run.id,
                run.id,
            );
            return Err(anyhow::anyhow!("{e}"));
        }
    };
    let store = match store {
        Some(s) => s,
        None => store_arg.open()?,
    };
    // The run as it stands now (a shard's end may have completed it).
    let run = store.resolve_run(&run.id)?;
    if finished.cancelled {
        let recorded = store.count_attempts(&run.id)?;
        return Ok(Ended::Interrupted { run, recorded });
    }
    if let Some(shard) = args.shard {
        return Ok(Ended::ShardDone { run, shard });
    }
    let summary = summarize_run(
        store.as_ref(),
        &run.id,
        plan.judges.first().map(String::as_str),
        &calibration,
    )?;
    let first_look = match &summary.judge {
        Some(judge) => {
            let obs = store.observations(&run.id, None)?;
            mmsafe_metrics::first_look(&obs, judge, &plan.attacks, &plan.defenses).sentence()
        }
        None => None,
    };
    tracing::info!(run = %run.id, "summary computed");
    Ok(Ended::Completed {
        run,
        summary: Box::new(summary),
        first_look,
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
        return usage("--target is required (e.g. `--target openai-compatible:http://127.0.0.1:8000/v1#llava`), or --resume RUN");
    };
    if args.suites.is_empty() {
        return usage(
            "--suite is required (e.g. `--suite figstep:safebench.csv` or `--suite quick`)",
        );
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
    // Written with the run for the record and for resume; defaults are
    // filled in so a later change of a default does not change a stored run.
    let options = RunOptions {
        concurrency: Some(
            args.ops
                .concurrency
                .unwrap_or(crate::flags::default_concurrency()),
        ),
        timeout_s: Some(
            args.ops
                .timeout
                .unwrap_or(crate::flags::default_timeout().as_secs_f64()),
        ),
        no_cache: Some(args.ops.no_cache),
        skip_broken: Some(args.skip_broken),
        cwd: std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        ..args.ops.over(&RunOptions::default())
    };
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
fn announce_resume(store: &dyn RunStore, run: &Run, retry_errors: bool) -> anyhow::Result<()> {
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

/// `--resume RUN --shard I/N` must count shards the way the run's shards did.
fn check_shard_count(store: &dyn RunStore, run: &Run, shard: Shard) -> anyhow::Result<()> {
    if let Some(other) = store
        .shard_rows(&run.id)?
        .into_iter()
        .find(|r| r.count != shard.count)
    {
        return Err(mmsafe_store::StoreError::ShardCountMismatch {
            path: store.describe(),
            run: run.id.clone(),
            have: other.count,
            given: shard.count,
        }
        .into());
    }
    Ok(())
}

/// Relative paths in the stored specs (suite files, policy files) were
/// relative to where the run started; resume from there.
fn enter_run_dir(run: &Run) -> anyhow::Result<()> {
    let Some(dir) = run.plan.options.cwd.as_deref() else {
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
        if !stop_signal().await {
            return;
        }
        bar.suspend(|| eprintln!("stopping… (Ctrl-C again to quit immediately)"));
        cancel.cancel();
        if stop_signal().await {
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
    });
}

/// Ctrl-C, or SIGTERM: what Slurm's `scancel` and a Kubernetes pod deletion
/// send first (the kill follows after a grace period), so a stopped shard is
/// recorded as `interrupted` rather than left `running`. False when no
/// signal can be listened for.
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = term.recv() => r.is_some(),
            };
        }
    }
    tokio::signal::ctrl_c().await.is_ok()
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
    fn scan_without_target_is_the_offline_scan_keeping_the_flags_given() {
        let o = ScanArgs::default_offline();
        // The offline scan shows an image attack and the default guard.
        assert!(o.attacks.contains(&"figstep".to_string()));
        assert_eq!(o.defenses, ["none", "balanced"]);
        let d = ScanArgs::default().or_offline_defaults();
        assert_eq!(
            (
                d.target,
                d.suites,
                d.attacks,
                d.defenses,
                d.judges,
                d.max_tokens
            ),
            (
                o.target,
                o.suites,
                o.attacks,
                o.defenses,
                o.judges,
                o.max_tokens
            )
        );
        // Flags given are kept; the rest are the offline defaults.
        let d = ScanArgs {
            dry_run: true,
            suites: vec!["privacy".into()],
            defenses: vec!["strict".into()],
            ..ScanArgs::default()
        }
        .or_offline_defaults();
        assert!(d.dry_run && d.target.as_deref() == Some(OFFLINE_TARGET));
        assert_eq!(
            (d.suites, d.defenses),
            (vec!["privacy".to_string()], vec!["strict".to_string()])
        );
        assert_eq!(d.max_tokens, Some(OFFLINE_MAX_TOKENS));
        // A given target or resume turns the defaults off.
        let r = ScanArgs {
            resume: Some("r1".into()),
            ..ScanArgs::default()
        }
        .or_offline_defaults();
        assert!(r.target.is_none() && r.suites.is_empty());
        let t = ScanArgs {
            target: Some("openai:gpt".into()),
            ..ScanArgs::default()
        }
        .or_offline_defaults();
        assert!(t.suites.is_empty() && t.max_tokens.is_none());
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
