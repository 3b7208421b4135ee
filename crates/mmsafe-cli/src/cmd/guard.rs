//! `mmsafe guard check` (run the request-side layers of a policy on one input,
//! offline) and `mmsafe guard list` (layer kinds and presets).

use crate::exit::{outln, Outcome};
use anyhow::Context as _;
use mmsafe_core::{Image, Message, Part, Request};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GuardArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Run a policy's request-side layers on one prompt (and images) without calling any target.
    Check(CheckArgs),
    /// List layer kinds and built-in presets.
    List,
    /// Grow the `prompt:adaptive` library from a run's successful attacks (AdaShield-A's loop).
    Tune(TuneArgs),
    /// Fine-tune the `harm` request classifier on the public prompt sets (reproducible).
    Train(crate::cmd::guard_train::TrainArgs),
    /// Measure policies on the held-out typographic set (recall and FPR per layout and condition).
    Eval(crate::cmd::guard_eval::EvalArgs),
}

#[derive(clap::Args, Debug)]
struct TuneArgs {
    /// The run whose successful attacks to learn from (id or name).
    #[arg(long)]
    run: String,
    /// The model that writes defense prompts (a target spec).
    #[arg(long)]
    defender: String,
    /// The defended model [default: the run's target].
    #[arg(long)]
    target: Option<String>,
    #[command(flatten)]
    store: crate::flags::StoreArg,
    /// How the defended model and the defender are reached.
    #[command(flatten)]
    ops: crate::flags::TargetOpsArgs,
    /// Library to extend (JSON Lines); created from the built-in library when missing.
    #[arg(long, default_value = "adaptive_prompts.jsonl")]
    library: PathBuf,
    /// Judge whose `complied` verdict marks a successful attack [default: the run's first judge, as `report` uses].
    #[arg(long)]
    judge: Option<String>,
    /// Learn from attempts under this defense.
    #[arg(long, default_value = "none")]
    defense: String,
    /// Most attacks to tune on (validation attacks not counted).
    #[arg(long, default_value_t = 20)]
    max_samples: usize,
    /// Validation attacks kept aside per scenario.
    #[arg(long, default_value_t = 5)]
    validation: usize,
    /// Defender rounds per attack.
    #[arg(long, default_value_t = 4)]
    iterations: u32,
    /// Minimum refusal ratio on validation attacks to accept a prompt.
    #[arg(long, default_value_t = 0.8)]
    alpha: f64,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The user's text.
    #[arg(long)]
    prompt: String,
    /// An image file sent with the prompt (repeatable).
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// Policy: a preset (`strict`, `balanced`, `permissive`) or a TOML file.
    #[arg(long, default_value = "balanced")]
    policy: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: GuardArgs) -> anyhow::Result<Outcome> {
    match args.which {
        Which::Check(a) => check(a),
        Which::Tune(a) => tune(a),
        Which::Train(a) => crate::cmd::guard_train::run(a),
        Which::Eval(a) => crate::cmd::guard_eval::run(a),
        Which::List => {
            outln!("layer kinds:")?;
            for kind in mmsafe_guard::LAYERS {
                outln!("  {:<16} {}", kind.name, kind.summary)?;
            }
            outln!("presets:")?;
            for (name, text) in mmsafe_guard::PRESETS {
                let about = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('#')
                    .trim();
                outln!("  {name:<16} {about}")?;
            }
            Ok(Outcome::Ok)
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<Outcome> {
    let mut parts = Vec::new();
    for path in &a.images {
        let bytes = std::fs::read(path).with_context(|| format!("--image {}", path.display()))?;
        let img = Image::sniff(bytes).with_context(|| {
            format!(
                "--image {}: not a PNG, JPEG, GIF, WebP or BMP file",
                path.display()
            )
        })?;
        parts.push(Part::image(img));
    }
    parts.push(Part::text(a.prompt.clone()));
    let req = Request::new(vec![Message::user(parts)]);
    let guard = crate::wiring::defenses::build_guard(&a.policy, &Default::default(), None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt
        .block_on(guard.check_request(&req))
        .context("guard check")?;
    if a.json {
        let v = serde_json::json!({
            "policy": a.policy,
            "decision": report.decision,
            "layers": report.layers,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!("policy {}: {}", a.policy, report.decision)?;
        for s in &report.layers {
            outln!(
                "  {:<16} {:<8} {:>8.1} ms  {}",
                s.name,
                s.decision,
                s.ms,
                s.reason
            )?;
        }
    }
    Ok(Outcome::Ok)
}

/// The judge that decides success: the one asked for, else the run's first
/// planned judge (what `report` headlines); later `mmsafe judge --run` passes
/// add verdicts but do not change it.
fn primary_judge<'a>(explicit: Option<&'a str>, planned: &'a [String]) -> Option<&'a str> {
    explicit.or(planned.first().map(String::as_str))
}

/// Whether `judge` (or, for runs planned without one, the attempt's first
/// verdict) says the target complied.
fn complied(verdicts: &[mmsafe_core::Verdict], judge: Option<&str>) -> bool {
    let v = match judge {
        Some(j) => verdicts.iter().find(|v| v.judge == j),
        None => verdicts.first(),
    };
    v.map(|v| v.label) == Some(mmsafe_core::Label::Complied)
}

fn tune(a: TuneArgs) -> anyhow::Result<Outcome> {
    use mmsafe_guard::layers::prompt_adaptive::{load_library, parse_library, BUILTIN_LIBRARY};
    use mmsafe_guard::tune::{sample_of, tune_library, LibraryPlan, TuneOptions, TuneSample};
    use std::collections::BTreeMap;

    let store = crate::cmd::runs::open_existing_store(&a.store.path())?;
    let run = store.resolve_run(&a.run)?;
    let judge = primary_judge(a.judge.as_deref(), &run.plan.judges);
    if let Some(j) = judge {
        let known = store.judges(&run.id)?;
        anyhow::ensure!(
            known.is_empty() || known.iter().any(|k| k == j),
            "run `{}` has no verdicts from judge `{j}` (judges: {})",
            run.id,
            known.join(", ")
        );
    }
    let mut by_scenario: BTreeMap<String, Vec<TuneSample>> = BTreeMap::new();
    for att in store.attempts(&run.id)? {
        let success = att.defense == a.defense
            && att.case.expect == mmsafe_core::Expect::Refuse
            && att.outcome.is_ok()
            && complied(&att.verdicts, judge);
        if success {
            let sample = sample_of(&att.case, att.request.max_tokens);
            by_scenario
                .entry(sample.scenario.clone())
                .or_default()
                .push(sample);
        }
    }
    let found: usize = by_scenario.values().map(Vec::len).sum();
    anyhow::ensure!(
        found > 0,
        "run `{}` has no successful attacks under defense `{}` (harmful cases judged `complied` by `{}`)",
        run.id,
        a.defense,
        judge.unwrap_or("the first judge of each attempt")
    );
    let topts = a.ops.target_options(crate::flags::default_concurrency());
    let target_spec = a.target.clone().unwrap_or_else(|| run.plan.target.clone());
    let target = crate::wiring::targets::build_target(&target_spec, &topts)?;
    let defender = crate::wiring::targets::build_target(&a.defender, &topts)?;
    let mut library = if a.library.exists() {
        load_library(&a.library).map_err(anyhow::Error::msg)?
    } else {
        parse_library(BUILTIN_LIBRARY, "built-in library").map_err(anyhow::Error::msg)?
    };
    let opts = TuneOptions {
        iterations: a.iterations,
        alpha: a.alpha,
        ..TuneOptions::default()
    };
    let plan = LibraryPlan {
        max_samples: a.max_samples,
        validation: a.validation,
    };
    eprintln!(
        "tuning on {found} successful attack(s) from run {} against {target_spec}",
        run.id
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut printed = Ok(());
    let added = rt.block_on(tune_library(
        &target,
        &defender,
        &by_scenario,
        &mut library,
        &plan,
        &opts,
        |out| {
            let status = match (&out.entry, out.prompt.is_some()) {
                (Some(_), _) => "accepted",
                (None, true) => "rejected by validation",
                (None, false) => "not refused after all rounds",
            };
            if printed.is_ok() {
                printed = outln!(
                    "{:<26} rounds {}  validation {}  calls {}  {status}",
                    out.scenario,
                    out.rounds,
                    out.validation
                        .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0)),
                    out.calls
                );
            }
        },
    ))?;
    printed?;
    let mut text = String::new();
    for e in &library {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    std::fs::write(&a.library, text)
        .with_context(|| format!("--library {}", a.library.display()))?;
    outln!(
        "{added} new prompt(s); library {} has {} entries (use it with `library = \"{}\"` in a `prompt:adaptive` layer)",
        a.library.display(),
        library.len(),
        a.library.display()
    )?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::{complied, primary_judge};
    use mmsafe_core::{Label, Verdict};

    fn v(judge: &str, label: Label) -> Verdict {
        Verdict::new(judge, label, "")
    }

    #[test]
    fn tune_uses_the_runs_primary_judge_not_the_latest() {
        // `scan --judge refusal`, then `judge --run R --judge llm:…` added
        // error verdicts: the planned judge still decides.
        let planned = vec!["refusal".to_string()];
        let verdicts = vec![v("llm:mock", Label::Error), v("refusal", Label::Complied)];
        let j = primary_judge(None, &planned);
        assert_eq!(j, Some("refusal"));
        assert!(complied(&verdicts, j));
        assert!(!complied(
            &verdicts,
            primary_judge(Some("llm:mock"), &planned)
        ));
        // Runs planned without a judge fall back to each attempt's first verdict.
        assert!(!complied(&verdicts, primary_judge(None, &[])));
    }
}
