//! `mmsafe._native.MockServer`: the loopback OpenAI-compatible server of
//! `mmsafe-testkit` (the one `mmsafe bench scan` uses), for the package's
//! tests and for `bench/callable_vs_http.py`. Binds 127.0.0.1 only.

use anyhow::Context as _;
use mmsafe_testkit::{MockConfig, MockThread, Reply};
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::Duration;

/// A loopback chat server on its own thread; `spec` is its target spec.
#[pyclass(module = "mmsafe._native")]
pub struct MockServer {
    #[pyo3(get)]
    spec: String,
    running: Mutex<Option<MockThread>>,
}

fn start(latency: Duration) -> anyhow::Result<(String, MockThread)> {
    let server = MockThread::start(
        MockConfig::default()
            .latency(latency)
            .reply(Reply::refuse_harmful()),
    )
    .context("cannot start the mock server")?;
    Ok((server.target_spec().to_string(), server))
}

#[pymethods]
impl MockServer {
    /// Start a server answering every chat request after `latency_ms`
    /// (refusing requests that look harmful, echoing the rest).
    #[new]
    #[pyo3(signature = (latency_ms=0))]
    fn new(py: Python<'_>, latency_ms: u64) -> PyResult<MockServer> {
        let (spec, running) =
            crate::detached(py, move || start(Duration::from_millis(latency_ms)))?;
        Ok(MockServer {
            spec,
            running: Mutex::new(Some(running)),
        })
    }

    /// Stop the server (also done when the object is collected).
    fn stop(&self, py: Python<'_>) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            py.detach(|| r.stop());
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _a: Option<Py<PyAny>>,
        _b: Option<Py<PyAny>>,
        _c: Option<Py<PyAny>>,
    ) {
        self.stop(py);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            // Stopped without waiting: the thread ends on its own.
            r.stop_detached();
        }
    }
}
