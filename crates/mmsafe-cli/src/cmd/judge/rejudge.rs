//! `mmsafe judge --run RUN` (verdicts for a stored run) and `--input FILE`
//! (verdicts for responses in a file).

use super::{runtime, JUDGE_CONCURRENCY};
use crate::exit::Outcome;
use crate::flags::TargetOpsArgs;
use crate::wiring::judges::build_judge;
use anyhow::Context as _;
use mmsafe_judge::calibrate;
use mmsafe_judge::labels;
use std::io::Write as _;
use std::path::PathBuf;

/// `--run RUN`: judge every stored attempt again with each judge and store
/// the verdicts (replacing earlier ones of the same judge name). Failed
/// attempts get an `error` verdict, never a guessed label.
pub(super) fn rejudge(
    store_path: &std::path::Path,
    run: &str,
    specs: &[String],
    ops: &TargetOpsArgs,
) -> anyhow::Result<Outcome> {
    let opts = ops.target_options(JUDGE_CONCURRENCY);
    anyhow::ensure!(
        store_path.exists(),
        "store {} does not exist",
        store_path.display()
    );
    let mut store = mmsafe_store::Store::open(store_path)?;
    let run = store.resolve_run(run)?;
    // A run a scan is still writing would be judged only in part.
    let _run_lock = store.lock_run(&run.id)?;
    let attempts = store.attempts(&run.id)?;
    let judged: Vec<(&mmsafe_core::Case, &mmsafe_core::Response, &str)> = attempts
        .iter()
        .filter_map(|a| {
            a.outcome
                .as_ref()
                .ok()
                .map(|r| (a.case.as_ref(), r, a.key.as_str()))
        })
        .collect();
    let failed: Vec<&mmsafe_store::StoredAttempt> =
        attempts.iter().filter(|a| a.outcome.is_err()).collect();
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    let mut judge_errors = Vec::new();
    for spec in specs {
        let judge = build_judge(spec, &opts)?;
        let name = judge.name().to_string();
        let pairs: Vec<(&mmsafe_core::Case, &mmsafe_core::Response)> =
            judged.iter().map(|(c, r, _)| (*c, *r)).collect();
        let verdicts = rt.block_on(calibrate::judge_pairs(
            &judge,
            &pairs,
            opts.concurrency,
            |_| {},
        ));
        // Failed attempts are the scan's failures, already reported; only
        // the judge's own failures on real responses count here.
        judge_errors.extend(error_summary(&name, &verdicts));
        let mut batch: Vec<(String, mmsafe_core::Verdict)> = judged
            .iter()
            .zip(verdicts)
            .map(|((_, _, key), v)| (key.to_string(), v))
            .collect();
        for a in &failed {
            let reason = match &a.outcome {
                Err(e) => format!("attempt failed ({}): {}", e.kind, e.message),
                Ok(_) => String::new(),
            };
            batch.push((
                a.key.clone(),
                mmsafe_core::Verdict::new(name.clone(), mmsafe_core::Label::Error, reason),
            ));
        }
        let count = |l: mmsafe_core::Label| batch.iter().filter(|(_, v)| v.label == l).count();
        let (refused, complied, undecided, errors) = (
            count(mmsafe_core::Label::Refused),
            count(mmsafe_core::Label::Complied),
            count(mmsafe_core::Label::Undecided),
            count(mmsafe_core::Label::Error),
        );
        store.put_verdicts(&batch)?;
        writeln!(
            out,
            "run {}: judge `{name}` stored {} verdicts (complied {complied}, refused {refused}, undecided {undecided}, error {errors})",
            run.id,
            batch.len()
        )?;
    }
    fail_on_judge_errors(judge_errors)
}

/// `N of M verdicts are errors (judge `J`): first error: …` when any verdict
/// of this judge is an `error`, so a CI script notices a judge that failed.
fn error_summary(judge: &str, verdicts: &[mmsafe_core::Verdict]) -> Option<String> {
    let errors: Vec<&mmsafe_core::Verdict> = verdicts
        .iter()
        .filter(|v| v.label == mmsafe_core::Label::Error)
        .collect();
    let first = errors.first()?;
    Some(format!(
        "{} of {} verdicts are errors (judge `{judge}`): first error: {}",
        errors.len(),
        verdicts.len(),
        first.rationale.lines().next().unwrap_or_default()
    ))
}

/// Every verdict is written first; then one failure for all judges that erred.
fn fail_on_judge_errors(summaries: Vec<String>) -> anyhow::Result<Outcome> {
    if summaries.is_empty() {
        return Ok(Outcome::Ok);
    }
    anyhow::bail!("{}", summaries.join("; "))
}

/// `--input responses.jsonl`: one verdict line per response and judge.
pub(super) fn judge_input(
    input: &PathBuf,
    specs: &[String],
    ops: &TargetOpsArgs,
) -> anyhow::Result<Outcome> {
    let opts = ops.target_options(JUDGE_CONCURRENCY);
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
            harmful_request: None,
            published: Vec::new(),
        });
    }
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    let mut judge_errors = Vec::new();
    for spec in specs {
        let judge = build_judge(spec, &opts)?;
        let verdicts = rt.block_on(calibrate::verdicts_all(
            &judge,
            &items,
            opts.concurrency,
            |_| {},
        ));
        judge_errors.extend(error_summary(judge.name(), &verdicts));
        for (item, v) in items.iter().zip(verdicts) {
            let line = serde_json::json!({ "id": item.location, "verdict": v });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    fail_on_judge_errors(judge_errors)
}
