//! `mmsafe._native`: the Rust side of the `mmsafe` Python package.
//!
//! Every function here calls the library functions the CLI's `cmd/` files
//! call (`mmsafe_cli::cmd::scan::execute`, the `wiring` builders, the store)
//! and never the CLI itself; the one exception is [`run_cli`], which is the
//! `mmsafe` console script. Results cross into Python as JSON text (parsed by
//! the pure-Python layer in `mmsafe/`) except image bytes, which cross as
//! `bytes`.
//!
//! Rules every entry point keeps:
//! - the GIL is released while Rust works (`py.detach`), so Python threads,
//!   and the callable target itself, keep running;
//! - a Rust panic becomes `mmsafe.MmsafeError`, never an abort of the
//!   interpreter;
//! - errors are `mmsafe.errors` classes: `SpecError` (also a `ValueError`)
//!   for a spec or value mmsafe rejects, with the CLI's did-you-mean, else
//!   `MmsafeError`.

mod target;
mod testing;

use anyhow::Context as _;
use mmsafe_cli::cmd::scan::{Ended, ScanArgs};
use mmsafe_cli::flags::{StoreArg, TargetOpsArgs};
use mmsafe_core::{Image, Message, Part, Request};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An `mmsafe.errors` exception of class `class` built from `args`.
pub(crate) fn raise<A>(py: Python<'_>, class: &str, args: A) -> PyErr
where
    A: for<'py> pyo3::call::PyCallArgs<'py>,
{
    match py
        .import("mmsafe.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args))
    {
        Ok(v) => PyErr::from_value(v),
        Err(e) => e,
    }
}

/// Whether an error says a spec or value is wrong (unknown attack, judge,
/// suite or scheme, a bad parameter): those become `SpecError`, a `ValueError`.
fn is_spec_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<mmsafe_cli::exit::UsageError>().is_some()
            || c.downcast_ref::<mmsafe_core::ParamsError>().is_some()
            || c.downcast_ref::<mmsafe_core::TargetError>()
                .is_some_and(|t| t.kind == mmsafe_core::TargetErrorKind::Config)
            || {
                let s = c.to_string();
                s.contains("unknown ") || s.contains("did you mean") || s.contains("not a preset")
            }
    })
}

/// An `anyhow` error as the Python exception the CLI's message would be:
/// the same lines (causes not repeated, URL credentials redacted), without
/// the `error: ` prefix.
fn to_py(py: Python<'_>, e: anyhow::Error) -> PyErr {
    let lines = mmsafe_cli::exit::error_lines(&e);
    let msg = lines
        .join("\n")
        .trim_start_matches("error: ")
        .replace("\n  caused by: ", ": ");
    let class = if is_spec_error(&e) {
        "SpecError"
    } else {
        "MmsafeError"
    };
    raise(py, class, (msg,))
}

/// Run `f` with the GIL released; a panic or an error becomes a Python
/// exception.
fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> anyhow::Result<T> + Send,
{
    let out = py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(f)));
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(panic) => Err(panic_error(py, panic)),
    }
}

pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

fn panic_error(py: Python<'_>, panic: Box<dyn std::any::Any + Send>) -> PyErr {
    raise(
        py,
        "MmsafeError",
        (format!(
            "internal error (a bug in mmsafe, please report it): {}",
            panic_text(panic.as_ref())
        ),),
    )
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string(v)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `mmsafe ARGS…`: the console script. Returns the exit code.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    detached(py, move || Ok(mmsafe_cli::run_cli(argv)))
}

/// The scan behind `mmsafe.scan`: arguments already checked by the Python
/// layer. Returns `{"run_id", "store", "summary"}` as JSON.
#[pyfunction]
#[pyo3(signature = (target, callable, target_name, is_async, suites, attacks, defenses, judges,
    store, concurrency, max_tokens=None, repeats=None, seed=None, run_name=None, resume=None,
    retry_errors=false, timeout=None, rate=None, no_cache=false, skip_broken=false))]
#[allow(clippy::too_many_arguments)]
fn scan(
    py: Python<'_>,
    target: Option<String>,
    callable: Option<Py<PyAny>>,
    target_name: Option<String>,
    is_async: bool,
    suites: Vec<String>,
    attacks: Vec<String>,
    defenses: Vec<String>,
    judges: Vec<String>,
    store: PathBuf,
    concurrency: usize,
    max_tokens: Option<u32>,
    repeats: Option<u32>,
    seed: Option<u64>,
    run_name: Option<String>,
    resume: Option<String>,
    retry_errors: bool,
    timeout: Option<f64>,
    rate: Option<f64>,
    no_cache: bool,
    skip_broken: bool,
) -> PyResult<String> {
    // The callable is registered for the length of the scan under the name
    // the run records (`inproc:NAME`), so a resume finds it again.
    let registration = match callable {
        Some(f) => {
            let name = target_name.unwrap_or_else(|| "python".to_string());
            let t = target::PyTarget::new(f, &name, is_async);
            Some(
                mmsafe_target::inproc::register(&name, Arc::new(t))
                    .map_err(|e| raise(py, "SpecError", (e.to_string(),)))?,
            )
        }
        None => None,
    };
    let spec = registration.as_ref().map(|r| r.spec()).or(target);
    let args = ScanArgs {
        target: spec,
        suites,
        attacks,
        defenses,
        judges,
        ops: TargetOpsArgs {
            concurrency: NonZeroUsize::new(concurrency),
            rate,
            timeout,
            no_cache,
            ..TargetOpsArgs::default()
        },
        max_tokens,
        repeats,
        store: StoreArg::at(&store),
        run_name,
        resume,
        retry_errors,
        seed,
        skip_broken,
        ..ScanArgs::default()
    };
    let store_path = args.store_path();
    let cancel = mmsafe_engine::CancellationToken::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let token = cancel.clone();
    // A resume enters the directory the run started in (relative paths in
    // its specs); the caller's working directory is put back afterwards.
    let cwd = std::env::current_dir().ok();
    let worker = std::thread::Builder::new()
        .name("mmsafe-scan".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let rt = mmsafe_cli::cmd::scan::runtime()?;
                let r = rt.block_on(mmsafe_cli::cmd::scan::execute(
                    &args,
                    token,
                    Arc::new(|_| {}),
                ));
                // A cancelled scan has dropped its in-flight attempts; a
                // Python call still running for one (a slow model) is not
                // waited for, its result would be thrown away anyway.
                rt.shutdown_background();
                r
            }));
            let _ = tx.send(r);
        })
        .map_err(|e| raise(py, "MmsafeError", (format!("cannot start the scan: {e}"),)))?;
    // Wait with the GIL released, waking every 100 ms to let Python see a
    // Ctrl-C (signals are only delivered to the main thread, in Python code).
    let mut interrupt: Option<PyErr> = None;
    // (`detach` needs `Sync` data; the receiver is only ever used here.)
    let rx = std::sync::Mutex::new(rx);
    let result = loop {
        let next = py.detach(|| {
            rx.lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(Duration::from_millis(100))
        });
        match next {
            Ok(r) => break r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if interrupt.is_none() {
                    if let Err(e) = py.check_signals() {
                        // Stop cleanly: in-flight attempts are dropped and
                        // the run stays resumable, as with the CLI's Ctrl-C.
                        cancel.cancel();
                        interrupt = Some(e);
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Box::new("the scan thread ended without a result"));
            }
        }
    };
    let _ = py.detach(|| worker.join());
    drop(registration);
    if let Some(dir) = cwd {
        if std::env::current_dir().ok().as_ref() != Some(&dir) {
            let _ = std::env::set_current_dir(dir);
        }
    }
    let ended = match result {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return Err(interrupt.unwrap_or_else(|| to_py(py, e))),
        Err(panic) => return Err(panic_error(py, panic)),
    };
    let store_s = store_path.display().to_string();
    match ended {
        Ended::Completed { run, summary, .. } => Ok(serde_json::json!({
            "run_id": run.id,
            "store": store_s,
            "summary": mmsafe_report::render_json(&summary),
        })
        .to_string()),
        Ended::Interrupted { run, recorded } => {
            let msg = format!(
                "interrupted: {recorded} attempts recorded in run {}; resume with mmsafe.scan(..., resume={:?}, store={:?})",
                run.id, run.id, store_s
            );
            match interrupt {
                Some(e) if !e.is_instance_of::<PyKeyboardInterrupt>(py) => Err(e),
                _ => Err(raise(py, "Interrupted", (msg, run.id, store_s, recorded))),
            }
        }
        // Python scans are not sharded today; a shard's run is still a run to read.
        Ended::ShardDone { run, shard } => Ok(serde_json::json!({
            "run_id": run.id,
            "store": store_s,
            "shard": shard.to_string(),
        })
        .to_string()),
        Ended::DryRun => Ok(serde_json::json!({"store": store_s}).to_string()),
    }
}

/// Every run of a store, newest first, as JSON.
#[pyfunction]
fn store_runs(py: Python<'_>, store: PathBuf) -> PyResult<String> {
    detached(py, move || {
        let s = mmsafe_cli::cmd::runs::open_existing_store(&store)?;
        json(&s.list_runs()?)
    })
}

/// One run (id or name) of a store, as JSON.
#[pyfunction]
fn store_run(py: Python<'_>, store: PathBuf, run: String) -> PyResult<String> {
    detached(py, move || {
        let s = mmsafe_cli::cmd::runs::open_existing_store(&store)?;
        json(&s.resolve_run(&run)?)
    })
}

/// The figures of `mmsafe scan --json` / `mmsafe runs show --json` for a
/// stored run, under `judge` (default: the run's first judge).
#[pyfunction]
#[pyo3(signature = (store, run, judge=None))]
fn run_summary(
    py: Python<'_>,
    store: PathBuf,
    run: String,
    judge: Option<String>,
) -> PyResult<String> {
    detached(py, move || {
        let s = mmsafe_cli::cmd::runs::open_existing_store(&store)?;
        let run = s.resolve_run(&run)?;
        let judge = judge.or_else(|| run.plan.judges.first().cloned());
        let summary = mmsafe_cli::cmd::runs::summarize_run(
            &s,
            &run.id,
            judge.as_deref(),
            &Default::default(),
        )?;
        json(&mmsafe_report::render_json(&summary))
    })
}

/// Every attempt of a run, flat (one object per attempt, its verdicts in a
/// list), as JSON.
#[pyfunction]
fn run_attempts(py: Python<'_>, store: PathBuf, run: String) -> PyResult<String> {
    detached(py, move || {
        let s = mmsafe_cli::cmd::runs::open_existing_store(&store)?;
        let run = s.resolve_run(&run)?;
        let mut out = Vec::new();
        s.for_each_attempt(&run.id, &mut |a| {
            out.push(attempt_json(&a));
            Ok(())
        })?;
        json(&out)
    })
}

fn attempt_json(a: &mmsafe_store::StoredAttempt) -> serde_json::Value {
    let (response, finish_reason, error_kind, error, latency_ms, usage, retries) = match &a.outcome
    {
        Ok(r) => (
            Some(r.text.clone()),
            Some(r.finish_reason.as_str().to_string()),
            None,
            None,
            r.latency_ms,
            r.usage,
            r.retries,
        ),
        Err(e) => (
            None,
            None,
            Some(e.kind.clone()),
            Some(e.message.clone()),
            e.latency_ms,
            Default::default(),
            e.retries,
        ),
    };
    serde_json::json!({
        "key": a.key,
        "run_id": a.run_id,
        "case_id": a.case.id,
        "base_case_id": a.base_case_id,
        "attack": a.attack,
        "defense": a.defense,
        "repeat": a.repeat,
        "hazard": a.case.hazard,
        "expect": a.case.expect.to_string(),
        "source": a.case.source,
        "prompt": a.case.prompt_text(),
        "images": a.case.images().count(),
        "response": response,
        "finish_reason": finish_reason,
        "error_kind": error_kind,
        "error": error,
        "latency_ms": latency_ms,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "retries": retries,
        "verdicts": a.verdicts,
    })
}

/// `mmsafe attack list --json`'s `attacks`.
#[pyfunction]
fn attacks_list(py: Python<'_>) -> PyResult<String> {
    detached(py, || {
        let ctx = mmsafe_cli::wiring::attacks::build_ctx()?;
        let infos: Vec<_> = mmsafe_attack::registry(&ctx)
            .iter()
            .map(|s| s.info())
            .collect();
        json(&infos)
    })
}

/// One attacked case for Python: JSON without image bytes, and the images
/// (media type, bytes) in the order the JSON's image parts name them.
type AttackedCase = (String, Vec<(String, Py<PyBytes>)>);

/// `mmsafe attack SPEC --input input.txt --seed SEED` on one prompt, in
/// memory: the same case, the same per-case seed, the same bytes.
#[pyfunction]
fn attack_apply(
    py: Python<'_>,
    spec: String,
    text: String,
    seed: u64,
) -> PyResult<Vec<AttackedCase>> {
    let cases = detached(py, move || {
        let attack = mmsafe_cli::wiring::attacks::build_attack(&spec)?;
        let case = mmsafe_attack::input::case_from_text(&text);
        let case_seed = mmsafe_core::seed::derive(seed, &[&case.id]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(attack.apply(&case, case_seed))?)
    })?;
    let mut out = Vec::new();
    for c in &cases {
        let mut images = Vec::new();
        let messages: Vec<serde_json::Value> = c
            .messages
            .iter()
            .map(|m| {
                let content: Vec<serde_json::Value> = m
                    .content
                    .iter()
                    .map(|p| match p {
                        Part::Text { text } => serde_json::json!({"type": "text", "text": text}),
                        Part::Image { image } => {
                            images.push((
                                image.media_type().to_string(),
                                PyBytes::new(py, image.bytes()).unbind(),
                            ));
                            serde_json::json!({
                                "type": "image",
                                "index": images.len() - 1,
                                "mime_type": image.media_type(),
                                "sha256": image.sha256(),
                            })
                        }
                    })
                    .collect();
                serde_json::json!({"role": m.role.as_str(), "content": content})
            })
            .collect();
        let v = serde_json::json!({
            "id": c.id,
            "prompt": c.prompt_text(),
            "messages": messages,
            "hazard": c.hazard,
            "expect": c.expect.to_string(),
            "seed": c.seed,
            "attack": c.attack_chain(),
            "provenance": c.provenance,
            "metadata": c.metadata,
        });
        out.push((v.to_string(), images));
    }
    Ok(out)
}

/// `mmsafe guard check --json`: the request-side layers of a policy on one
/// prompt and its images, no target called.
#[pyfunction]
fn guard_check(
    py: Python<'_>,
    prompt: String,
    images: Vec<Vec<u8>>,
    policy: String,
) -> PyResult<String> {
    let mut parts = Vec::new();
    for (i, bytes) in images.into_iter().enumerate() {
        let Some(img) = Image::sniff(bytes) else {
            return Err(raise(
                py,
                "SpecError",
                (format!(
                    "images[{i}]: not a PNG, JPEG, GIF, WebP or BMP image"
                ),),
            ));
        };
        parts.push(Part::image(img));
    }
    parts.push(Part::text(prompt));
    detached(py, move || {
        let req = Request::new(vec![Message::user(parts)]);
        let guard = mmsafe_cli::wiring::defenses::build_guard(&policy, &Default::default(), None)?;
        let report = runtime()?
            .block_on(guard.check_request(&req))
            .context("guard check")?;
        json(&serde_json::json!({
            "policy": policy,
            "decision": report.decision,
            "layers": report.layers,
        }))
    })
}

/// One verdict of judge `spec` on (`request`, `reply`), as `mmsafe judge
/// --input` gives it for one line.
#[pyfunction]
fn judge(py: Python<'_>, spec: String, request: String, reply: String) -> PyResult<String> {
    detached(py, move || {
        let opts = mmsafe_target::TargetOptions::default();
        let judge = mmsafe_cli::wiring::judges::build_judge(&spec, &opts)?;
        let item = mmsafe_judge::labels::Labeled {
            location: "python".into(),
            request,
            response: reply,
            positive: false,
            group: String::new(),
            harmful_request: None,
            published: Vec::new(),
        };
        let (case, response) = mmsafe_judge::calibrate::as_case(&item);
        let verdicts = runtime()?.block_on(mmsafe_judge::calibrate::judge_pairs(
            &judge,
            &[(&case, &response)],
            1,
            |_| {},
        ));
        let v = verdicts
            .into_iter()
            .next()
            .context("the judge returned no verdict")?;
        json(&v)
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(store_runs, m)?)?;
    m.add_function(wrap_pyfunction!(store_run, m)?)?;
    m.add_function(wrap_pyfunction!(run_summary, m)?)?;
    m.add_function(wrap_pyfunction!(run_attempts, m)?)?;
    m.add_function(wrap_pyfunction!(attacks_list, m)?)?;
    m.add_function(wrap_pyfunction!(attack_apply, m)?)?;
    m.add_function(wrap_pyfunction!(guard_check, m)?)?;
    m.add_function(wrap_pyfunction!(judge, m)?)?;
    m.add_class::<testing::MockServer>()?;
    Ok(())
}
