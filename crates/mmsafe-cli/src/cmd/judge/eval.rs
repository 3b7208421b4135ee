//! `mmsafe judge eval`: judges against human labels, and judges against each other.

use super::{runtime, JUDGE_CONCURRENCY};
use crate::exit::{usage, Outcome};
use crate::flags::TargetOpsArgs;
use crate::wiring::judges::build_judge;
use mmsafe_judge::eval::{evaluate, EvalError, EvalRequest};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct EvalArgs {
    /// Judge spec; repeat to compare judges on the same rows (each gets its
    /// figures, and every pair an exact McNemar test).
    #[arg(long = "judge", required = true, value_name = "JUDGE")]
    pub(super) judges: Vec<String>,
    /// Labelled file, or a directory: every `.csv`/`.json`/`.jsonl` in it
    /// (read in the `--format`), measured together.
    #[arg(long)]
    pub(super) labels: PathBuf,
    /// Format of the labels file: harmbench|jbb|xstest|gptfuzz|jailbreakeval|jsonl.
    #[arg(long)]
    pub(super) format: String,
    /// Print the agreement as JSON.
    #[arg(long)]
    pub(super) json: bool,
    /// Write the judge's sensitivity/specificity (for corrected ASR) to this file.
    #[arg(long)]
    pub(super) save_calibration: Option<PathBuf>,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub(super) bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    #[command(flatten)]
    pub(super) ops: TargetOpsArgs,
    /// Evaluate only the held-out share of a `judge train --holdout F` split.
    #[arg(long)]
    pub(super) holdout: Option<f64>,
    /// Write one JSON line per labelled row (its location in the labels
    /// file, the human label, the judge's label and score) to this file, to
    /// study disagreements. Rows' text is left out: label sets are harmful.
    #[arg(long)]
    pub(super) predictions: Option<PathBuf>,
}

pub(super) fn eval(a: EvalArgs) -> anyhow::Result<Outcome> {
    let judge_opts = a.ops.target_options(JUDGE_CONCURRENCY);
    let request = EvalRequest {
        judges: a.judges,
        labels: a.labels,
        format: a.format,
        holdout: a.holdout,
        bootstrap: a.bootstrap,
        seed: a.seed,
        concurrency: judge_opts.concurrency,
        save_calibration: a.save_calibration,
        predictions: a.predictions,
    };
    let build = |spec: &str| build_judge(spec, &judge_opts).map_err(|e| format!("{e:#}"));
    let outcome = match runtime()?.block_on(evaluate(&request, &build)) {
        Ok(outcome) => outcome,
        Err(EvalError::Usage(m)) => return usage(m),
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome.to_json())?)?;
    } else {
        write!(out, "{}", outcome.to_text())?;
    }
    Ok(Outcome::Ok)
}
