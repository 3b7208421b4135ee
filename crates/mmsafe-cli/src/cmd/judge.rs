//! `mmsafe judge`: calibrate judges against human labels (`eval`), train the
//! offline classifier (`train`), and judge responses from a file (`--input`).

use crate::exit::Outcome;
use crate::wiring::judges::build_judge;
use anyhow::Context as _;
use mmsafe_judge::calibrate::{self, EvalReport};
use mmsafe_judge::labels::{self, LabelFormat};
use mmsafe_metrics::Scores;
use mmsafe_target::TargetOptions;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct JudgeArgs {
    #[command(subcommand)]
    command: Option<JudgeCommand>,
    /// Responses to judge, one JSON object per line (`response`, optional `request`/`prompt`, `id`).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Judge spec(s): `refusal`, `llm:<target>[:rubric=…]`, `llamaguard:<target>`, `classifier[:FILE]`, `vote:…`.
    #[arg(long = "judge", default_value = "refusal")]
    judges: Vec<String>,
    /// Judgements in flight at once (LLM judges).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[derive(clap::Subcommand, Debug)]
enum JudgeCommand {
    /// Measure a judge's agreement with human labels.
    Eval(EvalArgs),
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// Judge spec.
    #[arg(long)]
    judge: String,
    /// Labelled file.
    #[arg(long)]
    labels: PathBuf,
    /// Format of the labels file: harmbench|jbb|xstest|gptfuzz|jailbreakeval|jsonl.
    #[arg(long)]
    format: String,
    /// Print the agreement as JSON.
    #[arg(long)]
    json: bool,
    /// Write the judge's sensitivity/specificity (for corrected ASR) to this file.
    #[arg(long)]
    save_calibration: Option<PathBuf>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Judgements in flight at once (LLM judges).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

pub fn run(args: JudgeArgs) -> anyhow::Result<Outcome> {
    match args.command {
        Some(JudgeCommand::Eval(a)) => eval(a),
        None => match &args.input {
            Some(input) => judge_input(input, &args.judges, args.concurrency),
            None => anyhow::bail!(
                "nothing to judge: give `--input FILE`, or a subcommand (`mmsafe judge eval --help`)"
            ),
        },
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn eval(a: EvalArgs) -> anyhow::Result<Outcome> {
    let format = LabelFormat::parse(&a.format).with_context(|| {
        format!(
            "unknown label format `{}` (expected {})",
            a.format,
            LabelFormat::NAMES
        )
    })?;
    let items = labels::load(&a.labels, format)?;
    anyhow::ensure!(
        !items.is_empty(),
        "{}: no labelled rows",
        a.labels.display()
    );
    let judge = build_judge(&a.judge, &TargetOptions::default())?;
    let rt = runtime()?;
    let judged = rt.block_on(calibrate::judge_all(&judge, &items, a.concurrency, |_| {}));
    let labels_name = a.labels.display().to_string();
    let (report, calibration) =
        calibrate::evaluate(&a.judge, &labels_name, format, &judged, a.bootstrap, a.seed);
    if let Some(path) = &a.save_calibration {
        let cal = calibration.with_context(|| {
            format!(
                "cannot save a calibration for `{}`: sensitivity or specificity is undefined on {} (a class is missing or nothing was decided)",
                a.judge, labels_name
            )
        })?;
        let body = serde_json::to_string_pretty(&cal)?;
        std::fs::write(path, body + "\n")
            .with_context(|| format!("writing calibration to {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_report(&mut out, &report)?;
    }
    Ok(Outcome::Ok)
}

fn fmt_opt(x: Option<f64>, as_pct: bool) -> String {
    match x {
        Some(x) if as_pct => format!("{:.1}%", 100.0 * x),
        Some(x) => format!("{x:.3}"),
        None => "n/a".into(),
    }
}

fn print_report(out: &mut impl std::io::Write, r: &EvalReport) -> std::io::Result<()> {
    let a = &r.agreement;
    writeln!(out, "judge   {}", r.judge)?;
    writeln!(out, "labels  {} ({})", r.labels, r.format)?;
    writeln!(
        out,
        "        positive = {}; the judge's `complied` counts as positive",
        r.positive
    )?;
    writeln!(
        out,
        "n       {} items, {} undecided ({} of them errors)",
        a.n, a.undecided, r.errors
    )?;
    writeln!(
        out,
        "{:<12}{:>22}{:>22}",
        "", "all (undecided=wrong)", "decided only"
    )?;
    type Get = fn(&Scores) -> (Option<f64>, Option<mmsafe_metrics::Ci>);
    let rows: [(&str, Get, bool); 5] = [
        ("accuracy", |s| (s.accuracy, s.accuracy_ci), true),
        ("precision", |s| (s.precision, s.precision_ci), true),
        ("recall", |s| (s.recall, s.recall_ci), true),
        ("f1", |s| (s.f1, s.f1_ci), false),
        ("kappa", |s| (s.kappa, s.kappa_ci), false),
    ];
    for (name, get, as_pct) in rows {
        let cell = |s: &Scores| {
            let (v, ci) = get(s);
            match ci {
                Some(ci) => format!(
                    "{} [{}, {}]",
                    fmt_opt(v, as_pct),
                    fmt_opt(Some(ci[0]), as_pct),
                    fmt_opt(Some(ci[1]), as_pct)
                ),
                None => fmt_opt(v, as_pct),
            }
        };
        writeln!(
            out,
            "{name:<12}{:>22}{:>22}",
            cell(&a.strict),
            cell(&a.decided)
        )?;
    }
    let c = &a.decided.confusion;
    writeln!(
        out,
        "decided confusion: tp={} fp={} tn={} fn={}; 95% percentile-bootstrap intervals",
        c.tp, c.fp, c.tn, c.fn_
    )
}

/// `--input responses.jsonl`: one verdict line per response and judge.
fn judge_input(input: &PathBuf, specs: &[String], concurrency: usize) -> anyhow::Result<Outcome> {
    let raw =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let mut items = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: invalid JSON", input.display(), i + 1))?;
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        let response = get(&["response", "answer", "completion", "generation"])
            .with_context(|| format!("{}:{}: missing field `response`", input.display(), i + 1))?;
        let id = get(&["id"]).unwrap_or_else(|| format!("{}", i + 1));
        items.push(labels::Labeled {
            location: id,
            request: get(&["request", "prompt", "question", "goal"]).unwrap_or_default(),
            response,
            positive: false,
            group: String::new(),
        });
    }
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    for spec in specs {
        let judge = build_judge(spec, &TargetOptions::default())?;
        let verdicts = rt.block_on(calibrate::verdicts_all(&judge, &items, concurrency, |_| {}));
        for (item, v) in items.iter().zip(verdicts) {
            let line = serde_json::json!({ "id": item.location, "verdict": v });
            writeln!(out, "{line}")?;
        }
    }
    Ok(Outcome::Ok)
}
