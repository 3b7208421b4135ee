//! Re-judging a stored run: every finished attempt's stored response goes
//! through each judge again, without querying the target, and the verdicts
//! replace earlier ones of the same judge name. `mmsafe judge --run` is this.

use crate::run::judge_one;
use crate::EngineError;
use futures::StreamExt as _;
use mmsafe_core::{DynJudge, Label, Verdict};
use mmsafe_store::{RunStore, Shard, StoredAttempt};

/// What one judge stored for the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JudgeTally {
    pub judge: String,
    /// Verdicts written: one per attempt of the run.
    pub stored: usize,
    pub complied: usize,
    pub refused: usize,
    pub undecided: usize,
    /// `error` verdicts, the failed attempts' included.
    pub errors: usize,
    /// The judge's own failures on real responses (failed attempts are the
    /// scan's failures, reported when they happened).
    pub judge_errors: usize,
    /// The first line of the first judge failure, to report.
    pub first_judge_error: Option<String>,
}

impl JudgeTally {
    /// `N of M verdicts are errors (judge `J`): first error: …`, when the
    /// judge itself failed on any response.
    pub fn failure(&self) -> Option<String> {
        let first = self.first_judge_error.as_ref()?;
        Some(format!(
            "{} of {} verdicts are errors (judge `{}`): first error: {first}",
            self.judge_errors,
            self.stored - self.failed_attempts(),
            self.judge
        ))
    }

    fn failed_attempts(&self) -> usize {
        self.errors - self.judge_errors
    }
}

/// Judge every attempt of `run_id` with each judge and store the verdicts
/// (each judge's batch in one transaction). Failed attempts get an `error`
/// verdict naming the failure, never a guessed label. The caller holds the
/// run lock, so a scan still writing the run is not judged in part.
/// With `shard`, only the attempts of that slice are judged (`judge --run RUN
/// --shard I/N`): N judging workers split a run the way scans do.
pub async fn rejudge<S: RunStore + ?Sized>(
    store: &mut S,
    run_id: &str,
    judges: &[DynJudge],
    concurrency: usize,
    shard: Option<Shard>,
) -> Result<Vec<JudgeTally>, EngineError> {
    let mut attempts = store.attempts(run_id)?;
    if let Some(s) = shard {
        attempts.retain(|a| s.contains(&a.key));
    }
    let mut tallies = Vec::with_capacity(judges.len());
    for judge in judges {
        let batch = judge_attempts(judge, &attempts, concurrency).await;
        store.put_verdicts(&batch)?;
        tallies.push(tally(judge.name(), &attempts, &batch));
    }
    Ok(tallies)
}

async fn judge_attempts(
    judge: &DynJudge,
    attempts: &[StoredAttempt],
    concurrency: usize,
) -> Vec<(String, Verdict)> {
    futures::stream::iter(attempts.iter().map(|a| async move {
        let verdict = match &a.outcome {
            Ok(response) => judge_one(judge, &a.case, response).await,
            Err(e) => Verdict::new(
                judge.name(),
                Label::Error,
                format!("attempt failed ({}): {}", e.kind, e.message),
            ),
        };
        (a.key.clone(), verdict)
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}

fn tally(judge: &str, attempts: &[StoredAttempt], batch: &[(String, Verdict)]) -> JudgeTally {
    let count = |l: Label| batch.iter().filter(|(_, v)| v.label == l).count();
    let judge_failures: Vec<&Verdict> = attempts
        .iter()
        .zip(batch)
        .filter(|(a, (_, v))| a.outcome.is_ok() && v.label == Label::Error)
        .map(|(_, (_, v))| v)
        .collect();
    JudgeTally {
        judge: judge.to_string(),
        stored: batch.len(),
        complied: count(Label::Complied),
        refused: count(Label::Refused),
        undecided: count(Label::Undecided),
        errors: count(Label::Error),
        judge_errors: judge_failures.len(),
        first_judge_error: judge_failures
            .first()
            .map(|v| v.rationale.lines().next().unwrap_or_default().to_string()),
    }
}
