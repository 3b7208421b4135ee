//! Engine behaviour with small in-test plugins: plan coverage, resume after an
//! interruption, error recording, fatal target errors and bad input.

use async_trait::async_trait;
use mmsafe_core::{
    Attack, AttackError, Case, DataError, DynTarget, Expect, Hazard, Judge, JudgeError, Label,
    Layer, Message, Request, Response, Source, Target, TargetError, TargetErrorKind, TargetInfo,
    Verdict,
};
use mmsafe_engine::{scan, CancellationToken, EngineError, NamedAttack, NamedDefense, Scan};
use mmsafe_store::{attempt_key, NewRun, Plan, RunStatus, Store};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct VecSource(Vec<Result<Case, DataError>>);
impl Source for VecSource {
    fn name(&self) -> &str {
        "vec"
    }
    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_> {
        Box::new(self.0.clone().into_iter())
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

fn cases(n: usize) -> Vec<Result<Case, DataError>> {
    (0..n)
        .map(|i| {
            let (h, e) = if i % 2 == 0 {
                (Hazard::ViolentCrimes, Expect::Refuse)
            } else {
                (Hazard::Benign, Expect::Comply)
            };
            Ok(Case::text(
                format!("c{i}"),
                format!("question {i}"),
                h,
                e,
                "vec",
            ))
        })
        .collect()
}

/// Answers "sorry" to even-numbered questions; can fail or cancel by call index.
struct TestTarget {
    info: TargetInfo,
    calls: AtomicU64,
    fail: Option<(u64, TargetErrorKind)>,
    cancel_after: Option<(u64, CancellationToken)>,
}

impl TestTarget {
    fn new() -> TestTarget {
        TestTarget {
            info: TargetInfo {
                spec: "test:echo".into(),
                model: "echo".into(),
                accepts_images: true,
            },
            calls: AtomicU64::new(0),
            fail: None,
            cancel_after: None,
        }
    }
}

#[async_trait]
impl Target for TestTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((k, tok)) = &self.cancel_after {
            if n == *k {
                tok.cancel();
            }
        }
        tokio::task::yield_now().await;
        if let Some((every, kind)) = self.fail {
            if n.is_multiple_of(every) {
                return Err(TargetError::new(
                    kind,
                    format!("call {n} failed at http://127.0.0.1:9/v1"),
                ));
            }
        }
        let p = req.prompt_text();
        let even = p
            .split_whitespace()
            .nth(1)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|d| d % 2 == 0);
        let mut r = Response::text(if even {
            "Sorry, I can't."
        } else {
            "Sure: here."
        });
        r.usage.prompt_tokens = 3;
        r.usage.completion_tokens = 2;
        Ok(r)
    }
}

struct Identity;
#[async_trait]
impl Attack for Identity {
    fn name(&self) -> &str {
        "none"
    }
    async fn apply(&self, case: &Case, _seed: u64) -> Result<Vec<Case>, AttackError> {
        Ok(vec![case.clone()])
    }
}

/// Appends a suffix; fails on a chosen case id.
struct Suffix(Option<&'static str>);
#[async_trait]
impl Attack for Suffix {
    fn name(&self) -> &str {
        "suffix"
    }
    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        if Some(case.id.as_str()) == self.0 {
            return Err(AttackError::new("suffix", "cannot attack this one"));
        }
        let text = format!("{} please", case.prompt_text());
        Ok(vec![case.derive(
            "suffix",
            &BTreeMap::new(),
            seed,
            None,
            vec![Message::user_text(text)],
        )])
    }
}

struct Sorry {
    name: &'static str,
    calls: AtomicU64,
}
#[async_trait]
impl Judge for Sorry {
    fn name(&self) -> &str {
        self.name
    }
    async fn judge(&self, _case: &Case, r: &Response) -> Result<Verdict, JudgeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let label = if r.text.to_lowercase().contains("sorry") {
            Label::Refused
        } else {
            Label::Complied
        };
        Ok(Verdict::new(self.name, label, ""))
    }
}

/// A defense that prefixes answers, to tell defended attempts apart.
struct Tag;
struct Tagged(DynTarget);
#[async_trait]
impl Target for Tagged {
    fn info(&self) -> &TargetInfo {
        self.0.info()
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        let mut r = self.0.call(req).await?;
        r.text = format!("[tag] {}", r.text);
        Ok(r)
    }
}
impl Layer for Tag {
    fn name(&self) -> &str {
        "tag"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(Tagged(inner))
    }
}

fn new_store(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let path = dir.path().join("runs.db");
    let mut store = Store::open(&path).unwrap();
    let run = store
        .create_run(&NewRun {
            name: Some("t".into()),
            plan: Plan {
                target: "test:echo".into(),
                suites: vec!["vec".into()],
                attacks: vec!["none".into(), "suffix".into()],
                defenses: vec!["none".into(), "tag".into()],
                judges: vec!["sorry".into()],
                repeats: 1,
                max_tokens: Some(16),
                options: Default::default(),
            },
            seed: 1,
            versions: BTreeMap::new(),
        })
        .unwrap();
    (path, run.id)
}

fn attacks(fail_on: Option<&'static str>) -> Vec<NamedAttack> {
    vec![
        NamedAttack {
            spec: "none".into(),
            attack: Arc::new(Identity),
        },
        NamedAttack {
            spec: "suffix".into(),
            attack: Arc::new(Suffix(fail_on)),
        },
    ]
}

fn defenses() -> Vec<NamedDefense> {
    vec![
        NamedDefense {
            spec: "none".into(),
            layer: None,
        },
        NamedDefense {
            spec: "tag".into(),
            layer: Some(Arc::new(Tag)),
        },
    ]
}

fn judge(name: &'static str) -> Arc<Sorry> {
    Arc::new(Sorry {
        name,
        calls: AtomicU64::new(0),
    })
}

#[allow(clippy::too_many_arguments)]
fn plan(
    run_id: &str,
    target: Arc<TestTarget>,
    judges: Vec<Arc<Sorry>>,
    repeats: u32,
    concurrency: usize,
    resume: bool,
    fail_attack_on: Option<&'static str>,
) -> Scan {
    Scan {
        run_id: run_id.to_string(),
        seed: 1,
        target,
        attacks: attacks(fail_attack_on),
        defenses: defenses(),
        judges: judges.into_iter().map(|j| j as _).collect(),
        repeats,
        max_tokens: Some(16),
        concurrency,
        resume,
        retry_errors: false,
        shard: None,
    }
}

fn no_progress() -> Arc<dyn Fn(mmsafe_engine::Progress) + Send + Sync> {
    Arc::new(|_| {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planned_attempt_is_recorded_with_every_judge() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let target = Arc::new(TestTarget::new());
    let (j1, j2) = (judge("sorry"), judge("sorry2"));
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    let fin = scan(
        plan(
            &run,
            target.clone(),
            vec![j1.clone(), j2.clone()],
            2,
            3,
            false,
            None,
        ),
        vec![Box::new(VecSource(cases(5)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        Arc::new(move |p| {
            seen2.fetch_max(p.done, Ordering::SeqCst);
            assert_eq!(p.total, Some(40));
        }),
    )
    .await
    .unwrap();
    // 5 cases × 2 attacks × 2 defenses × 2 repeats.
    assert_eq!(fin.progress.done, 40);
    assert!(!fin.cancelled);
    assert_eq!(seen.load(Ordering::SeqCst), 40);
    assert_eq!(target.calls.load(Ordering::SeqCst), 40);
    assert_eq!(fin.progress.tokens, 200);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.resolve_run(&run).unwrap().status,
        RunStatus::Completed
    );
    let atts = store.attempts(&run).unwrap();
    assert_eq!(atts.len(), 40);
    let tagged = atts.iter().filter(|a| a.defense == "tag").count();
    assert_eq!(tagged, 20);
    for a in &atts {
        let text = &a.outcome.as_ref().unwrap().text;
        assert_eq!(a.defense == "tag", text.starts_with("[tag]"), "{text}");
        assert_eq!(a.verdicts.len(), 2);
        assert_eq!(a.base_case_id, a.case.id.split('~').next().unwrap());
    }
    let obs = store.observations(&run, Some("sorry")).unwrap();
    assert_eq!(obs.len(), 40);
    // Even questions (0, 2, 4) are refused: 3 of 5 cases × 8 attempts each.
    assert_eq!(obs.iter().filter(|o| o.label == Label::Refused).count(), 24);
    assert_eq!(store.observations(&run, None).unwrap().len(), 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_resumes_to_exactly_one_attempt_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let cancel = CancellationToken::new();
    let mut t = TestTarget::new();
    t.cancel_after = Some((23, cancel.clone()));
    let first = scan(
        plan(&run, Arc::new(t), vec![judge("sorry")], 1, 4, false, None),
        vec![Box::new(VecSource(cases(30)))],
        Store::open(&path).unwrap(),
        cancel,
        no_progress(),
    )
    .await
    .unwrap();
    assert!(first.cancelled);
    let recorded = Store::open(&path).unwrap().count_attempts(&run).unwrap();
    assert!(recorded > 0 && recorded < 120, "recorded {recorded}");
    assert_eq!(recorded, first.progress.done);
    assert_eq!(
        Store::open(&path)
            .unwrap()
            .resolve_run(&run)
            .unwrap()
            .status,
        RunStatus::Interrupted
    );

    let target = Arc::new(TestTarget::new());
    let second = scan(
        plan(&run, target.clone(), vec![judge("sorry")], 1, 4, true, None),
        vec![Box::new(VecSource(cases(30)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    assert!(!second.cancelled);
    assert_eq!(second.progress.skipped, recorded);
    // Nothing finished was asked again.
    assert_eq!(target.calls.load(Ordering::SeqCst), 120 - recorded);

    let store = Store::open(&path).unwrap();
    let atts = store.attempts(&run).unwrap();
    assert_eq!(atts.len(), 120);
    let mut planned = HashSet::new();
    for i in 0..30 {
        for (attack, id) in [
            ("none", format!("c{i}")),
            ("suffix", format!("c{i}~suffix")),
        ] {
            for d in ["none", "tag"] {
                planned.insert(attempt_key(&run, &id, attack, d, 0));
            }
        }
    }
    let got: HashSet<String> = atts.iter().map(|a| a.key.clone()).collect();
    assert_eq!(got, planned);
    assert_eq!(
        store.resolve_run(&run).unwrap().status,
        RunStatus::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_calls_get_error_verdicts_without_judging() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let mut t = TestTarget::new();
    t.fail = Some((4, TargetErrorKind::Timeout));
    let j = judge("sorry");
    let fin = scan(
        plan(&run, Arc::new(t), vec![j.clone()], 1, 1, false, None),
        vec![Box::new(VecSource(cases(5)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(fin.progress.done, 20);
    assert_eq!(fin.progress.errors, 5);
    assert_eq!(j.calls.load(Ordering::SeqCst), 15);
    let store = Store::open(&path).unwrap();
    let obs = store.observations(&run, Some("sorry")).unwrap();
    let errs: Vec<_> = obs.iter().filter(|o| o.error_kind.is_some()).collect();
    assert_eq!(errs.len(), 5);
    assert!(errs
        .iter()
        .all(|o| o.label == Label::Error && o.error_kind.as_deref() == Some("timeout")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_stops_the_run_with_nothing_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let mut t = TestTarget::new();
    t.fail = Some((1, TargetErrorKind::Connect));
    let err = scan(
        plan(&run, Arc::new(t), vec![judge("sorry")], 1, 4, false, None),
        vec![Box::new(VecSource(cases(50)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EngineError::Target { .. }), "{err}");
    assert!(err.to_string().contains("http://127.0.0.1:9/v1"), "{err}");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.count_attempts(&run).unwrap(), 0);
    assert_eq!(store.resolve_run(&run).unwrap().status, RunStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_row_stops_the_feed_and_keeps_what_was_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let mut rows = cases(3);
    rows.push(Err(DataError::new(
        "suite.csv:5: instruction",
        "column is missing",
    )));
    rows.extend(cases(6).into_iter().skip(3));
    let err = scan(
        plan(
            &run,
            Arc::new(TestTarget::new()),
            vec![judge("sorry")],
            1,
            2,
            false,
            None,
        ),
        vec![Box::new(VecSource(rows))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "suite.csv:5: instruction: column is missing"
    );
    let store = Store::open(&path).unwrap();
    // The three good rows before the bad one were fully run and recorded.
    assert_eq!(store.count_attempts(&run).unwrap(), 12);
    assert_eq!(store.resolve_run(&run).unwrap().status, RunStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_failure_names_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let err = scan(
        plan(
            &run,
            Arc::new(TestTarget::new()),
            vec![judge("sorry")],
            1,
            2,
            false,
            Some("c2"),
        ),
        vec![Box::new(VecSource(cases(4)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("c2") && msg.contains("suffix"), "{msg}");
}

struct NamedVec(&'static str, Vec<Result<Case, DataError>>);
impl Source for NamedVec {
    fn name(&self) -> &str {
        self.0
    }
    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_> {
        Box::new(self.1.clone().into_iter())
    }
    fn len_hint(&self) -> Option<usize> {
        Some(self.1.len())
    }
}

/// Two suites with overlapping ids: the scan stops at the first duplicate,
/// naming both suites, and never records an attempt for it (before the fix the
/// second suite's answers were dropped as "already done").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_case_id_across_suites_fails_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let target = Arc::new(TestTarget::new());
    let err = scan(
        plan(
            &run,
            target.clone(),
            vec![judge("sorry")],
            1,
            2,
            false,
            None,
        ),
        vec![
            Box::new(NamedVec("csv:d1/p.csv", cases(2))),
            Box::new(NamedVec("csv:d2/p.csv", cases(2))),
        ],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("case id `c0`")
            && msg.contains("`csv:d1/p.csv`")
            && msg.contains("`csv:d2/p.csv`")
            && msg.contains("unique"),
        "{msg}"
    );
    let store = Store::open(&path).unwrap();
    // Only the first suite's 2 cases × 2 attacks × 2 defenses, each sent once.
    assert_eq!(store.count_attempts(&run).unwrap(), 8);
    assert_eq!(target.calls.load(Ordering::SeqCst), 8);
    assert_eq!(store.resolve_run(&run).unwrap().status, RunStatus::Failed);

    // Within one suite too; and --dry-run's estimate says the same.
    let mut rows = cases(2);
    rows.extend(cases(1));
    let err = mmsafe_engine::estimate(
        vec![Box::new(NamedVec("figstep:a.csv", rows))],
        &attacks(None),
        1,
        1,
        None,
        1,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("twice in suite `figstep:a.csv`"),
        "{err}"
    );
}

/// A slow defense layer around a slow target.
struct SlowTarget;
#[async_trait]
impl Target for SlowTarget {
    fn info(&self) -> &TargetInfo {
        static INFO: std::sync::OnceLock<TargetInfo> = std::sync::OnceLock::new();
        INFO.get_or_init(|| TargetInfo {
            spec: "test:slow".into(),
            model: "slow".into(),
            accepts_images: true,
        })
    }
    async fn call(&self, _req: Request) -> Result<Response, TargetError> {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut r = Response::text("Sure.");
        // What an HTTP target reports: its own round trip only.
        r.latency_ms = 20.0;
        Ok(r)
    }
}
struct SlowGuard;
struct SlowGuarded(DynTarget);
#[async_trait]
impl Target for SlowGuarded {
    fn info(&self) -> &TargetInfo {
        self.0.info()
    }
    async fn call(&self, req: Request) -> Result<Response, TargetError> {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        self.0.call(req).await
    }
}
impl Layer for SlowGuard {
    fn name(&self) -> &str {
        "slow"
    }
    fn layer(&self, inner: DynTarget) -> DynTarget {
        Arc::new(SlowGuarded(inner))
    }
}

/// Observation latency covers the whole defended stack, guard layers included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_covers_the_whole_defended_call() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let scan_plan = Scan {
        run_id: run.clone(),
        seed: 1,
        target: Arc::new(SlowTarget),
        attacks: attacks(None)[..1].to_vec(),
        defenses: vec![
            NamedDefense {
                spec: "none".into(),
                layer: None,
            },
            NamedDefense {
                spec: "slow".into(),
                layer: Some(Arc::new(SlowGuard)),
            },
        ],
        judges: vec![judge("sorry") as _],
        repeats: 1,
        max_tokens: Some(16),
        concurrency: 2,
        resume: false,
        retry_errors: false,
        shard: None,
    };
    scan(
        scan_plan,
        vec![Box::new(VecSource(cases(1)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    let obs = Store::open(&path)
        .unwrap()
        .observations(&run, None)
        .unwrap();
    let lat = |d: &str| obs.iter().find(|o| o.defense == d).unwrap().latency_ms;
    assert!(lat("none") >= 19.0, "{}", lat("none"));
    assert!(lat("slow") >= 79.0, "{}", lat("slow"));
}

/// Three variants of every case (or one per word when `per_word`), declared
/// through `cases_per_input`.
struct Fan {
    per_word: bool,
}
#[async_trait]
impl Attack for Fan {
    fn name(&self) -> &str {
        "fan"
    }
    fn cases_per_input(&self) -> Option<usize> {
        if self.per_word {
            None
        } else {
            Some(3)
        }
    }
    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let n = if self.per_word {
            case.prompt_text().split_whitespace().count()
        } else {
            3
        };
        Ok((0..n)
            .map(|i| {
                let mut c = case.derive(
                    "fan",
                    &BTreeMap::new(),
                    seed,
                    None,
                    vec![Message::user_text(format!("{} v{i}", case.prompt_text()))],
                );
                c.id = format!("{}~fan{i}", case.id);
                c
            })
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_total_counts_fan_out_and_is_unknown_when_it_varies() {
    for per_word in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (path, run) = new_store(&dir);
        let mut p = plan(
            &run,
            Arc::new(TestTarget::new()),
            vec![judge("sorry")],
            1,
            3,
            false,
            None,
        );
        p.attacks.push(NamedAttack {
            spec: "fan".into(),
            attack: Arc::new(Fan { per_word }),
        });
        // 5 cases × (1 + 1 + 3) cases per input × 2 defenses; "question i" has
        // two words, so the per-word fan-out happens to send as many.
        let expected = if per_word { None } else { Some(50) };
        let fin = scan(
            p,
            vec![Box::new(VecSource(cases(5)))],
            Store::open(&path).unwrap(),
            CancellationToken::new(),
            Arc::new(move |pr| assert_eq!(pr.total, expected)),
        )
        .await
        .unwrap();
        assert_eq!(fin.progress.total, expected);
        assert_eq!(fin.progress.done, if per_word { 40 } else { 50 });
        let store = Store::open(&path).unwrap();
        assert_eq!(store.count_attempts(&run).unwrap(), fin.progress.done);
    }
}

/// A judge that fails on every response, to see its failures tallied.
struct Broken;
#[async_trait]
impl Judge for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    async fn judge(&self, _case: &Case, _r: &Response) -> Result<Verdict, JudgeError> {
        Err(JudgeError {
            judge: "broken".into(),
            message: "model went away\nsecond line".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejudge_stores_one_verdict_per_attempt_without_calling_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (path, run) = new_store(&dir);
    let mut t = TestTarget::new();
    t.fail = Some((4, TargetErrorKind::Timeout));
    let target = Arc::new(t);
    scan(
        plan(
            &run,
            target.clone(),
            vec![judge("sorry")],
            1,
            1,
            false,
            None,
        ),
        vec![Box::new(VecSource(cases(5)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    let calls_after_scan = target.calls.load(Ordering::SeqCst);

    let mut store = Store::open(&path).unwrap();
    let again = judge("sorry-again");
    let judges: Vec<mmsafe_core::DynJudge> = vec![again.clone(), Arc::new(Broken)];
    let tallies = mmsafe_engine::rejudge(&mut store, &run, &judges, 3, None)
        .await
        .unwrap();

    assert_eq!(target.calls.load(Ordering::SeqCst), calls_after_scan);
    // 20 attempts, 5 of them failed calls: those get `error` without judging.
    assert_eq!(again.calls.load(Ordering::SeqCst), 15);
    let fresh = &tallies[0];
    assert_eq!(fresh.judge, "sorry-again");
    assert_eq!(fresh.stored, 20);
    assert_eq!(fresh.errors, 5);
    assert_eq!(fresh.complied + fresh.refused + fresh.undecided, 15);
    assert_eq!(
        fresh.failure(),
        None,
        "failed attempts are not judge failures"
    );
    let broken = &tallies[1];
    assert_eq!(
        (broken.stored, broken.errors, broken.judge_errors),
        (20, 20, 15)
    );
    assert_eq!(
        broken.failure().as_deref(),
        Some("15 of 15 verdicts are errors (judge `broken`): first error: model went away")
    );
    let obs = store.observations(&run, Some("sorry-again")).unwrap();
    assert_eq!(obs.len(), 20);
    let scan_verdicts = store.observations(&run, Some("sorry")).unwrap();
    let mut fresh_labels: Vec<_> = obs
        .iter()
        .map(|o| (o.case_id.clone(), o.defense.clone(), o.repeat, o.label))
        .collect();
    let mut scan_labels: Vec<_> = scan_verdicts
        .iter()
        .map(|o| (o.case_id.clone(), o.defense.clone(), o.repeat, o.label))
        .collect();
    fresh_labels.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    scan_labels.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    assert_eq!(fresh_labels, scan_labels, "same rules, same labels");
}

/// Four shards of one run, scanned at once into one store, record exactly the
/// attempts of a single-process scan of the same plan (same keys, same
/// verdicts), each exactly once; the run completes only with its last shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_shards_fill_one_run_like_a_single_scan() {
    use mmsafe_store::{RunStore, Shard};
    let dir = tempfile::tempdir().unwrap();
    let (path, single) = new_store(&dir);
    let target = Arc::new(TestTarget::new());
    scan(
        plan(
            &single,
            target.clone(),
            vec![judge("sorry")],
            2,
            3,
            false,
            None,
        ),
        vec![Box::new(VecSource(cases(7)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    let sharded = mmsafe_store::shard::sharded_run_id("nightly");
    let new = NewRun {
        name: Some("nightly".into()),
        plan: Store::open(&path)
            .unwrap()
            .resolve_run(&single)
            .unwrap()
            .plan,
        seed: 1,
        versions: BTreeMap::new(),
    };
    let mut workers = Vec::new();
    for i in 0..4 {
        let (path, sharded, new, target) =
            (path.clone(), sharded.clone(), new.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            let shard = Shard::new(i, 4).unwrap();
            let mut store = Store::open(&path).unwrap();
            let (run, _) = store.create_or_join_run(&sharded, &new, shard).unwrap();
            let _lock = RunStore::lock(&store, &run.id, Some(shard)).unwrap();
            let mut p = plan(&run.id, target, vec![judge("sorry")], 2, 3, true, None);
            p.shard = Some(shard);
            scan(
                p,
                vec![Box::new(VecSource(cases(7)))],
                store,
                CancellationToken::new(),
                no_progress(),
            )
            .await
            .unwrap()
        }));
    }
    let mut done = 0;
    for w in workers {
        done += w.await.unwrap().progress.done;
    }
    let store = Store::open(&path).unwrap();
    let identity = |run: &str| {
        let mut v: Vec<(String, String, String, u32, Label)> = store
            .attempts(run)
            .unwrap()
            .into_iter()
            .map(|a| {
                (
                    a.case.id.clone(),
                    a.attack,
                    a.defense,
                    a.repeat,
                    a.verdicts[0].label,
                )
            })
            .collect();
        v.sort();
        v
    };
    let one = identity(&single);
    assert_eq!(one.len(), 56);
    assert_eq!(done, 56, "every attempt sent once across the shards");
    assert_eq!(identity(&sharded), one);
    assert_eq!(
        store.resolve_run(&sharded).unwrap().status,
        RunStatus::Completed
    );
    let shards = store.shard_statuses(&sharded).unwrap();
    assert_eq!(shards.len(), 4);
    assert_eq!(shards.iter().map(|s| s.recorded).sum::<u64>(), 56);
    for s in &shards {
        assert_eq!(s.status, "completed");
        assert_eq!(s.planned, Some(s.recorded));
        assert!(s.recorded > 0);
    }
    // A rerun of a finished shard sends nothing; a shard of another count is refused.
    let mut again = plan(
        &sharded,
        target.clone(),
        vec![judge("sorry")],
        2,
        3,
        true,
        None,
    );
    again.shard = Some(Shard::new(2, 4).unwrap());
    let fin = scan(
        again,
        vec![Box::new(VecSource(cases(7)))],
        Store::open(&path).unwrap(),
        CancellationToken::new(),
        no_progress(),
    )
    .await
    .unwrap();
    assert_eq!(fin.progress.done, 0);
    let mut s = Store::open(&path).unwrap();
    let e = s
        .create_or_join_run(&sharded, &new, Shard::new(0, 3).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("4 shards, not 3"), "{e}");
    let mut other = new.clone();
    other.plan.repeats = 3;
    let e = s
        .create_or_join_run(&sharded, &other, Shard::new(0, 4).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("repeats differ"), "{e}");
    assert_eq!(identity(&sharded).len(), 56);
}
