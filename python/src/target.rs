//! A Python callable as a `Target`: registered as `inproc:NAME`, so the scan
//! reaches it through the same operational layers (retry, concurrency, rate,
//! timeout) as an HTTP model.
//!
//! Threads and the GIL: the scan's async tasks never take the GIL. A sync
//! callable runs on a tokio blocking thread that takes the GIL for the call
//! only; an `async def` callable is started on a blocking thread and runs on
//! the package's asyncio loop thread (`mmsafe._aio`), whose done-callback
//! hands the result back through a channel. So `concurrency` bounds the calls
//! in flight (the concurrency layer sits above), and Python code outside the
//! scan keeps running.

use mmsafe_core::{
    FinishReason, Part, Request, Response, Target, TargetError, TargetErrorKind, TargetInfo, Usage,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyList, PyString};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct PyTarget {
    info: TargetInfo,
    func: Arc<Py<PyAny>>,
    is_async: bool,
}

impl PyTarget {
    pub fn new(func: Py<PyAny>, name: &str, is_async: bool) -> PyTarget {
        PyTarget {
            info: TargetInfo {
                spec: format!("{}:{name}", mmsafe_target::inproc::SCHEME),
                model: name.to_string(),
                accepts_images: true,
            },
            func: Arc::new(func),
            is_async,
        }
    }
}

type Outcome = Result<Response, TargetError>;

fn failed(message: impl Into<String>) -> TargetError {
    TargetError::new(TargetErrorKind::Other, message)
}

/// An exception raised by the callable: `error` attempt with its message.
fn raised(py: Python<'_>, e: &PyErr) -> TargetError {
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_string());
    let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if text.is_empty() {
        failed(format!("the Python callable raised {name}"))
    } else {
        failed(format!("the Python callable raised {name}: {text}"))
    }
}

#[async_trait::async_trait]
impl Target for PyTarget {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    async fn call(&self, req: Request) -> Outcome {
        let started = Instant::now();
        let func = self.func.clone();
        let outcome = if self.is_async {
            let (tx, rx) = tokio::sync::oneshot::channel::<Outcome>();
            let started_call = tokio::task::spawn_blocking(move || {
                Python::attach(|py| start(py, &func, &req, tx))
            })
            .await;
            match started_call {
                Ok(Ok(())) => rx
                    .await
                    .unwrap_or_else(|_| Err(failed("the coroutine ended without a result"))),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(failed(format!("the Python call failed: {e}"))),
            }
        } else {
            tokio::task::spawn_blocking(move || Python::attach(|py| call_sync(py, &func, &req)))
                .await
                .unwrap_or_else(|e| Err(failed(format!("the Python call failed: {e}"))))
        };
        outcome.map(|mut r| {
            r.latency_ms = started.elapsed().as_secs_f64() * 1e3;
            r
        })
    }
}

/// A plain callable: call it and read its answer. One that returns an
/// awaitable anyway (a `functools.partial` of an `async def`, an object with
/// an async `__call__`) has it run on the package's loop and waited for
/// (`Future.result` releases the GIL while it waits).
fn call_sync(py: Python<'_>, func: &Py<PyAny>, req: &Request) -> Outcome {
    let run = || -> PyResult<Bound<'_, PyAny>> {
        let out = func.bind(py).call1((messages(py, req)?,))?;
        if out.hasattr("__await__")? {
            let fut = submit(py, out)?;
            return fut.call_method0("result");
        }
        Ok(out)
    };
    match run() {
        Ok(v) => response(&v),
        Err(e) => Err(raised(py, &e)),
    }
}

/// An `async def` callable: create the coroutine, schedule it on the loop
/// thread and return at once; the done-callback sends the outcome.
fn start(
    py: Python<'_>,
    func: &Py<PyAny>,
    req: &Request,
    tx: tokio::sync::oneshot::Sender<Outcome>,
) -> Result<(), TargetError> {
    let schedule = || -> PyResult<()> {
        let coro = func.bind(py).call1((messages(py, req)?,))?;
        let fut = submit(py, coro)?;
        let tx = Mutex::new(Some(tx));
        let done =
            PyCFunction::new_closure(py, None, None, move |args, _kwargs| -> PyResult<()> {
                let py = args.py();
                let fut = args.get_item(0)?;
                let outcome = match fut.call_method0("result") {
                    Ok(v) => response(&v),
                    Err(e) => Err(raised(py, &e)),
                };
                if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    // The attempt may have timed out and gone: nothing to tell.
                    let _ = tx.send(outcome);
                }
                Ok(())
            })?;
        fut.call_method1("add_done_callback", (done,))?;
        Ok(())
    };
    schedule().map_err(|e| raised(py, &e))
}

/// `mmsafe._aio.submit(awaitable)`: a `concurrent.futures.Future`.
fn submit<'py>(py: Python<'py>, awaitable: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    py.import("mmsafe._aio")?
        .getattr("submit")?
        .call1((awaitable,))
}

/// The request as OpenAI-style `messages`: a message with one text part has
/// a string `content`, any other a list of parts; an image part carries its
/// data URL (`image_url.url`) and, for PIL (`Image.open(io.BytesIO(b))`),
/// its `bytes` and `mime_type`.
fn messages<'py>(py: Python<'py>, req: &Request) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for m in &req.messages {
        let d = PyDict::new(py);
        d.set_item("role", m.role.as_str())?;
        match m.content.as_slice() {
            [Part::Text { text }] => d.set_item("content", text)?,
            parts => {
                let content = PyList::empty(py);
                for p in parts {
                    let part = PyDict::new(py);
                    match p {
                        Part::Text { text } => {
                            part.set_item("type", "text")?;
                            part.set_item("text", text)?;
                        }
                        Part::Image { image } => {
                            part.set_item("type", "image_url")?;
                            let url = PyDict::new(py);
                            url.set_item("url", image.data_url())?;
                            part.set_item("image_url", url)?;
                            part.set_item("bytes", PyBytes::new(py, image.bytes()))?;
                            part.set_item("mime_type", image.media_type())?;
                        }
                    }
                    content.append(part)?;
                }
                d.set_item("content", content)?;
            }
        }
        list.append(d)?;
    }
    Ok(list)
}

/// The callable's answer: a `str`, or a mapping with `content` and,
/// optionally, `finish_reason`, `usage` (`prompt_tokens`,
/// `completion_tokens`) and `model`. Anything else is a `malformed` error
/// attempt, never a pass.
fn response(v: &Bound<'_, PyAny>) -> Outcome {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Response::text(s.to_string()));
    }
    let Ok(d) = v.cast::<PyDict>() else {
        let ty = v
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        return Err(TargetError::new(
            TargetErrorKind::Malformed,
            format!("the Python callable returned {ty}; expected a str or a dict with `content`"),
        ));
    };
    let malformed = |m: String| TargetError::new(TargetErrorKind::Malformed, m);
    let get_str = |key: &str| -> Result<Option<String>, TargetError> {
        match d.get_item(key) {
            Ok(Some(x)) if x.is_none() => Ok(None),
            Ok(Some(x)) => x
                .extract::<String>()
                .map(Some)
                .map_err(|_| malformed(format!("the Python callable's `{key}` is not a str"))),
            _ => Ok(None),
        }
    };
    let Some(content) = get_str("content")? else {
        if d.contains("content").unwrap_or(false) {
            // `content: None` is an empty answer (a judge says `undecided`).
            return Ok(Response::text(""));
        }
        return Err(malformed(
            "the Python callable returned a dict without `content`".to_string(),
        ));
    };
    let mut r = Response::text(content);
    if let Some(f) = get_str("finish_reason")? {
        r.finish_reason = FinishReason::parse(&f);
    }
    r.model = get_str("model")?;
    if let Ok(Some(u)) = d.get_item("usage") {
        if let Ok(u) = u.cast::<PyDict>() {
            let n = |k: &str| -> u64 {
                u.get_item(k)
                    .ok()
                    .flatten()
                    .and_then(|x| x.extract::<u64>().ok())
                    .unwrap_or(0)
            };
            r.usage = Usage {
                prompt_tokens: n("prompt_tokens"),
                completion_tokens: n("completion_tokens"),
            };
        }
    }
    Ok(r)
}
