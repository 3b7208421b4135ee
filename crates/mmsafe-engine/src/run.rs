//! The scan loop itself.

use crate::attacked::{attacked_stream, Item};
use crate::progress::{Counters, Progress};
use crate::writer::{Msg, Writer};
use crate::{EngineError, NamedAttack, NamedDefense};
use futures::StreamExt as _;
use mmsafe_core::{
    seed, Case, DataError, DynJudge, DynTarget, Label, Request, Response, Source, TargetError,
    TargetErrorKind, Verdict,
};
use mmsafe_store::{
    attempt_key, AttemptError, NewAttempt, NewCase, RequestSummary, RunStatus, RunStore, Shard,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What to run. The plan's spec strings are already resolved into plugins;
/// the run itself must exist in the store (`Store::create_run`).
pub struct Scan {
    pub run_id: String,
    pub seed: u64,
    pub target: DynTarget,
    pub attacks: Vec<NamedAttack>,
    pub defenses: Vec<NamedDefense>,
    pub judges: Vec<DynJudge>,
    pub repeats: u32,
    pub max_tokens: Option<u32>,
    /// Attempts in flight at once (target calls plus judging).
    pub concurrency: usize,
    /// Skip attempts this run already recorded (`--resume`).
    pub resume: bool,
    /// With `resume`: re-send the attempts recorded as target errors and write
    /// their new outcome over the error (`--retry-errors`); attempts recorded
    /// with a response are still skipped. Ignored without `resume`.
    pub retry_errors: bool,
    /// Run only this slice of the plan's attempts (`--shard I/N`); the run's
    /// status then follows from all its shards (`run_shards`).
    pub shard: Option<Shard>,
}

/// How a scan ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub progress: Progress,
    /// Stopped by the cancellation token before the plan was done; the run is
    /// marked `interrupted` and can be resumed.
    pub cancelled: bool,
}

/// Everything an attempt task needs, shared.
struct Ctx {
    seed: u64,
    target_spec: String,
    judges: Vec<DynJudge>,
    repeats: u32,
    max_tokens: Option<u32>,
    writer: mpsc::Sender<Msg>,
    counters: Counters,
    total: Option<u64>,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
    /// Stops the scan: the caller's token or a fatal error.
    stop: CancellationToken,
    fatal: Mutex<Option<EngineError>>,
    any_ok: AtomicBool,
}

impl Ctx {
    /// Record a fatal error and stop everything in flight.
    fn fail(&self, e: EngineError) {
        self.fail_soft(e);
        self.stop.cancel();
    }
    /// Record a fatal error; attempts already in flight still finish and are
    /// recorded (bad input stops the feed, not the work already paid for).
    fn fail_soft(&self, e: EngineError) {
        if let Ok(mut slot) = self.fatal.lock() {
            slot.get_or_insert(e);
        }
    }
    fn report(&self) {
        (self.on_progress)(self.counters.snapshot(self.total));
    }
}

/// Run a scan to completion, cancellation or the first fatal error, and set the
/// run's status accordingly. Everything recorded before an error stays in the
/// store and the run can be resumed.
pub async fn scan<S: RunStore + 'static>(
    plan: Scan,
    sources: Vec<Box<dyn Source>>,
    store: S,
    cancel: CancellationToken,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> Result<Finished, EngineError> {
    scan_keeping_store(plan, sources, store, cancel, on_progress)
        .await
        .0
}

/// [`scan`], handing the store back (when the writer did not lose it) so the
/// caller can read the run without opening the file again.
pub async fn scan_keeping_store<S: RunStore + 'static>(
    plan: Scan,
    sources: Vec<Box<dyn Source>>,
    mut store: S,
    cancel: CancellationToken,
    on_progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> (Result<Finished, EngineError>, Option<S>) {
    let shard = plan.shard;
    let retry_errors = plan.resume && plan.retry_errors;
    let finished = if retry_errors {
        store.finished_keys_except_errors(&plan.run_id)
    } else if plan.resume {
        store.finished_keys(&plan.run_id)
    } else {
        Ok(HashSet::new())
    };
    let finished = match finished
        .and_then(|f| close(&mut store, &plan.run_id, shard, RunStatus::Running, None).map(|()| f))
    {
        Ok(f) => f,
        Err(e) => return (Err(e.into()), Some(store)),
    };
    // A shard makes about 1/N of the plan (the exact count is known at the end).
    let total =
        planned_total(&sources, &plan).map(|t| shard.map_or(t, |s| t.div_ceil(u64::from(s.count))));
    // Attempts of this shard seen in the plan, recorded when the shard completes.
    let mut in_shard = 0u64;
    let (writer_tx, writer) = match Writer::start(
        store,
        plan.run_id.clone(),
        plan.concurrency.saturating_mul(2) + 64,
        retry_errors,
    ) {
        Ok(w) => w,
        Err(e) => return (Err(EngineError::Io(e.to_string())), None),
    };

    let stop = cancel.child_token();
    let ctx = Arc::new(Ctx {
        seed: plan.seed,
        target_spec: plan.target.info().spec.clone(),
        judges: plan.judges.clone(),
        repeats: plan.repeats,
        max_tokens: plan.max_tokens,
        writer: writer_tx,
        counters: Counters::default(),
        total,
        on_progress,
        stop: stop.clone(),
        fatal: Mutex::new(None),
        any_ok: AtomicBool::new(false),
    });
    // Each defense wraps the bare target once; attempts share the stacks.
    let defended: Vec<(Arc<str>, DynTarget)> = plan
        .defenses
        .iter()
        .map(|d| {
            let t = match &d.layer {
                Some(layer) => layer.layer(plan.target.clone()),
                None => plan.target.clone(),
            };
            (Arc::<str>::from(d.spec.as_str()), t)
        })
        .collect();

    let cases = spawn_producer(sources);
    let sem = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut tasks: JoinSet<()> = JoinSet::new();
    ctx.report();

    let prefetch = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let attacks: Arc<[NamedAttack]> = plan.attacks.clone().into();
    let mut attacked = std::pin::pin!(attacked_stream(cases, attacks.clone(), plan.seed, prefetch));
    'cases: loop {
        let item = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            item = attacked.next() => item,
        };
        let (base, attack, result) = match item {
            None => break,
            Some(Item::Data(e)) => {
                ctx.fail_soft(EngineError::Data(e));
                break;
            }
            Some(Item::Attacked {
                base,
                attack,
                result,
            }) => (base, &attacks[attack], result),
        };
        let attacked = match result {
            Ok(v) => v,
            Err(source) => {
                ctx.fail_soft(EngineError::Attack {
                    case: base.id.clone(),
                    source,
                });
                break 'cases;
            }
        };
        let attack_spec: Arc<str> = Arc::from(attack.spec.as_str());
        for ac in attacked {
            let ac = Arc::new(ac);
            let mut pending = Vec::new();
            for (di, (dspec, _)) in defended.iter().enumerate() {
                for r in 0..plan.repeats.max(1) {
                    let key = attempt_key(&plan.run_id, &ac.id, &attack_spec, dspec, r);
                    if shard.is_some_and(|s| !s.contains(&key)) {
                        continue;
                    }
                    in_shard += 1;
                    if finished.contains(&key) {
                        ctx.counters.skipped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        pending.push((key, di, r));
                    }
                }
            }
            if pending.is_empty() {
                ctx.report();
                continue;
            }
            let msg = Msg::Case(NewCase {
                attack: attack.spec.clone(),
                case: ac.clone(),
            });
            if ctx.writer.send(msg).await.is_err() {
                ctx.fail(EngineError::WriterGone);
                break 'cases;
            }
            for (key, di, repeat) in pending {
                let permit = tokio::select! {
                    biased;
                    _ = stop.cancelled() => break 'cases,
                    p = sem.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break 'cases,
                    },
                };
                let job = Job {
                    key,
                    case: ac.clone(),
                    attack: attack_spec.clone(),
                    defense: defended[di].0.clone(),
                    target: defended[di].1.clone(),
                    repeat,
                };
                tasks.spawn(run_attempt(ctx.clone(), job, permit));
                // Reap finished tasks so the set stays as small as the concurrency.
                while let Some(r) = tasks.try_join_next() {
                    propagate_panic(r);
                }
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        propagate_panic(r);
    }

    let progress = ctx.counters.snapshot(total);
    let fatal = ctx.fatal.lock().ok().and_then(|mut f| f.take());
    // The writer finishes once the last sender (inside ctx) is gone.
    drop(ctx);
    let mut store = match writer.finish() {
        (Some(s), Ok(())) => s,
        (mut store, Err(e)) => {
            if let Some(s) = store.as_mut() {
                let _ = close(s, &plan.run_id, shard, RunStatus::Failed, None);
            }
            return (Err(EngineError::Store(e)), store);
        }
        (None, Ok(())) => return (Err(EngineError::WriterGone), None),
    };
    if let Some(e) = fatal {
        let closed = close(&mut store, &plan.run_id, shard, RunStatus::Failed, None);
        return (closed.map_err(EngineError::from).and(Err(e)), Some(store));
    }
    let cancelled = cancel.is_cancelled();
    let closed = if cancelled {
        close(
            &mut store,
            &plan.run_id,
            shard,
            RunStatus::Interrupted,
            None,
        )
    } else {
        close(
            &mut store,
            &plan.run_id,
            shard,
            RunStatus::Completed,
            Some(in_shard),
        )
    };
    let result = closed.map_err(EngineError::from).map(|()| Finished {
        progress,
        cancelled,
    });
    (result, Some(store))
}

/// Set the status of the run, or of this shard (and the run's from all its shards).
fn close<S: RunStore>(
    store: &mut S,
    run_id: &str,
    shard: Option<Shard>,
    status: RunStatus,
    planned: Option<u64>,
) -> Result<(), mmsafe_store::StoreError> {
    match shard {
        None => store.close_run(run_id, status),
        Some(s) if status == RunStatus::Running => store.start_shard(run_id, s),
        Some(s) => store.close_shard(run_id, s, status, planned),
    }
}

fn propagate_panic(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Planned attempts when every source knows its length and every attack how
/// many cases it makes of one.
fn planned_total(sources: &[Box<dyn Source>], plan: &Scan) -> Option<u64> {
    let mut cases = 0u64;
    for s in sources {
        cases = cases.checked_add(s.len_hint()? as u64)?;
    }
    crate::planned_attempts(cases, &plan.attacks, plan.defenses.len(), plan.repeats)
}

/// Read the sources on their own thread (loaders do blocking file IO) into a
/// small bounded channel: reading stays just ahead of the attempts.
fn spawn_producer(sources: Vec<Box<dyn Source>>) -> mpsc::Receiver<Result<Case, DataError>> {
    let (tx, rx) = mpsc::channel(32);
    let spawned = std::thread::Builder::new()
        .name("mmsafe-cases".into())
        .spawn(move || {
            let mut ids = UniqueIds::default();
            for mut source in sources {
                let suite = source.name().to_string();
                for item in source.cases() {
                    let item = item.and_then(|c| ids.check(&suite, c));
                    let stop = item.is_err();
                    if tx.blocking_send(item).is_err() || stop {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        // The receiver then sees this error as the first item.
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(DataError::new(
            "suite reader",
            format!("cannot start thread: {e}"),
        )));
        return rx;
    }
    rx
}

/// Case ids seen so far in one run, with the suite each came from.
///
/// Attempts are keyed by case id, so a second case with the same id would be
/// taken for the first one's finished attempt and silently dropped. A
/// duplicate therefore stops the feed before any attempt of it is sent. Holds
/// one short string per case: small next to the cases themselves.
#[derive(Default)]
pub(crate) struct UniqueIds {
    seen: std::collections::HashMap<String, Arc<str>>,
    suite: Option<Arc<str>>,
}

impl UniqueIds {
    pub(crate) fn check(&mut self, suite: &str, case: Case) -> Result<Case, DataError> {
        let name = match &self.suite {
            Some(s) if &**s == suite => s.clone(),
            _ => {
                let s: Arc<str> = Arc::from(suite);
                self.suite = Some(s.clone());
                s
            }
        };
        match self.seen.get(&case.id) {
            None => {
                self.seen.insert(case.id.clone(), name);
                Ok(case)
            }
            Some(first) => {
                let whereabouts = if **first == *suite {
                    format!("twice in suite `{suite}`")
                } else {
                    format!("in suite `{first}` and again in suite `{suite}`")
                };
                Err(DataError::new(
                    suite,
                    format!(
                        "case id `{}` appears {whereabouts}; case ids must be unique within a run \
                         (results are keyed by them): give the rows distinct ids (e.g. an `id` \
                         column, `csv:<file>:…,id=<col>`) or scan the suites as separate runs",
                        case.id
                    ),
                ))
            }
        }
    }
}

/// Read every source once (sources are read again from the start by each
/// `cases()` call) before a run exists and check that case ids are
/// unique across all of them, so a collision fails before anything is sent or
/// recorded. Returns the number of cases, or `None` when a bad row stopped the
/// reading: that row is left for the scan itself to report at its place (rows
/// before it still run and are recorded, as always).
pub fn check_unique_ids(sources: &mut [Box<dyn Source>]) -> Result<Option<u64>, DataError> {
    let mut ids = UniqueIds::default();
    let mut n = 0u64;
    for source in sources.iter_mut() {
        let suite = source.name().to_string();
        for item in source.cases() {
            match item {
                Ok(case) => {
                    ids.check(&suite, case)?;
                    n += 1;
                }
                Err(_) => return Ok(None),
            }
        }
    }
    Ok(Some(n))
}

struct Job {
    key: String,
    case: Arc<Case>,
    attack: Arc<str>,
    defense: Arc<str>,
    target: DynTarget,
    repeat: u32,
}

async fn run_attempt(ctx: Arc<Ctx>, job: Job, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    let mut req = Request::from_case(&job.case, ctx.max_tokens);
    if ctx.repeats > 1 {
        // Distinct seeds make repeats real samples (and distinct cache entries).
        let rep = job.repeat.to_string();
        req.seed = Some(seed::derive(ctx.seed, &[&job.case.id, &job.attack, &rep]));
    }
    let request = RequestSummary {
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        seed: req.seed,
        target: ctx.target_spec.clone(),
    };
    let started = Instant::now();
    let result = tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => return,
        r = job.target.call(req) => r,
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (outcome, verdicts) = match result {
        Ok(mut resp) => {
            ctx.any_ok.store(true, Ordering::Relaxed);
            // The whole stacked call, guard layers included (targets report
            // only their own HTTP time): defended and undefended attempts are
            // timed the same way, so "added latency" compares like with like.
            resp.latency_ms = elapsed_ms;
            let verdicts = tokio::select! {
                biased;
                _ = ctx.stop.cancelled() => return,
                v = judge_all(&ctx.judges, &job.case, &resp) => v,
            };
            ctx.counters
                .tokens
                .fetch_add(resp.usage.total(), Ordering::Relaxed);
            (Ok(resp), verdicts)
        }
        Err(e) => {
            if is_fatal(&e, ctx.any_ok.load(Ordering::Relaxed)) {
                ctx.fail(EngineError::Target {
                    target: ctx.target_spec.clone(),
                    source: e,
                });
                return;
            }
            if e.kind == TargetErrorKind::Cancelled {
                return;
            }
            ctx.counters.errors.fetch_add(1, Ordering::Relaxed);
            let verdicts = ctx
                .judges
                .iter()
                .map(|j| Verdict::new(j.name(), Label::Error, format!("target error: {}", e.kind)))
                .collect();
            (
                Err(AttemptError::new(e.kind, e.message, e.retries, elapsed_ms)),
                verdicts,
            )
        }
    };
    let attempt = NewAttempt {
        key: job.key,
        case_id: job.case.id.clone(),
        attack: job.attack.to_string(),
        defense: job.defense.to_string(),
        repeat: job.repeat,
        request,
        outcome,
        verdicts,
    };
    if ctx
        .writer
        .send(Msg::Attempt(Box::new(attempt)))
        .await
        .is_err()
    {
        ctx.fail(EngineError::WriterGone);
        return;
    }
    ctx.counters.done.fetch_add(1, Ordering::Relaxed);
    ctx.report();
}

/// Errors that mean the target cannot be used at all. Recording them per
/// attempt would fill the run with noise and mark every attempt finished; we
/// stop instead, with nothing written for them, so a resume retries them.
fn is_fatal(e: &TargetError, any_ok: bool) -> bool {
    match e.kind {
        TargetErrorKind::Auth | TargetErrorKind::Config => true,
        TargetErrorKind::Connect => !any_ok,
        _ => false,
    }
}

async fn judge_all(judges: &[DynJudge], case: &Case, resp: &Response) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(judges.len());
    if judges.len() == 1 {
        out.push(judge_one(&judges[0], case, resp).await);
    } else {
        let futs = judges.iter().map(|j| judge_one(j, case, resp));
        out.extend(futures::future::join_all(futs).await);
    }
    out
}

pub(crate) async fn judge_one(judge: &DynJudge, case: &Case, resp: &Response) -> Verdict {
    match judge.judge(case, resp).await {
        Ok(mut v) => {
            // Verdicts are stored per judge name as configured, whatever the
            // judge wrote in the field.
            if v.judge != judge.name() {
                v.judge = judge.name().to_string();
            }
            v
        }
        Err(e) => Verdict::new(judge.name(), Label::Error, e.message),
    }
}
