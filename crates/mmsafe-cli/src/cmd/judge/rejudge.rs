//! `mmsafe judge --run RUN` (verdicts for a stored run) and `--input FILE`
//! (verdicts for responses in a file).

use super::{runtime, JUDGE_CONCURRENCY};
use crate::exit::Outcome;
use crate::flags::{StoreArg, TargetOpsArgs};
use crate::wiring::judges::build_judge;
use mmsafe_judge::{calibrate, labels};
use mmsafe_store::{RunStore as _, Shard};
use std::io::Write as _;
use std::path::Path;

/// `--run RUN`: judge every stored attempt again with each judge and store
/// the verdicts (replacing earlier ones of the same judge name).
pub(super) fn rejudge(
    store: &StoreArg,
    run: &str,
    specs: &[String],
    ops: &TargetOpsArgs,
    shard: Option<Shard>,
) -> anyhow::Result<Outcome> {
    let opts = ops.target_options(JUDGE_CONCURRENCY);
    if store.postgres_url().is_none() {
        let store_path = store.path();
        anyhow::ensure!(
            store_path.exists(),
            "store {} does not exist",
            store_path.display()
        );
    }
    // Every spec is built before anything is judged or written.
    let judges = specs
        .iter()
        .map(|spec| build_judge(spec, &opts))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut store = store.open_existing()?;
    let run = store.resolve_run(run)?;
    // A run (or shard) a scan is still writing would be judged only in part.
    let _run_lock = store.lock(&run.id, shard)?;
    let tallies = runtime()?.block_on(mmsafe_engine::rejudge(
        store.as_mut(),
        &run.id,
        &judges,
        opts.concurrency,
        shard,
    ))?;
    let mut out = std::io::stdout().lock();
    for t in &tallies {
        writeln!(
            out,
            "run {}{}: judge `{}` stored {} verdicts (complied {}, refused {}, undecided {}, error {})",
            run.id,
            shard.map(|s| format!(" shard {s}")).unwrap_or_default(),
            t.judge, t.stored, t.complied, t.refused, t.undecided, t.errors
        )?;
    }
    fail_on_judge_errors(tallies.iter().filter_map(|t| t.failure()).collect())
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
    input: &Path,
    specs: &[String],
    ops: &TargetOpsArgs,
) -> anyhow::Result<Outcome> {
    let opts = ops.target_options(JUDGE_CONCURRENCY);
    let items = labels::load_responses(input)?;
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
