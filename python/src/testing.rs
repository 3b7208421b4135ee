//! `mmsafe._native.MockServer`: the loopback OpenAI-compatible server of
//! `mmsafe-testkit` (the one `mmsafe bench scan` uses), for the package's
//! tests and for `bench/callable_vs_http.py`. Binds 127.0.0.1 only.

use anyhow::Context as _;
use mmsafe_testkit::{MockConfig, MockServer as Server, Reply};
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::Duration;

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

/// A loopback chat server on its own thread; `spec` is its target spec.
#[pyclass(module = "mmsafe._native")]
pub struct MockServer {
    #[pyo3(get)]
    spec: String,
    running: Mutex<Option<Running>>,
}

fn start(latency: Duration) -> anyhow::Result<(String, Running)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<String>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("mmsafe-mock-server".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let config = MockConfig::default()
                    .latency(latency)
                    .reply(Reply::refuse_harmful());
                match Server::start(config).await {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(server.target_spec()));
                        let _ = stopped.await;
                        server.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                    }
                }
            });
        })
        .context("cannot start the mock server thread")?;
    let spec = ready_rx
        .recv()
        .context("the mock server thread exited before it was ready")??;
    Ok((spec, Running { stop, handle }))
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
            let _ = r.stop.send(());
            let _ = py.detach(|| r.handle.join());
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
            let _ = r.stop.send(());
        }
    }
}
