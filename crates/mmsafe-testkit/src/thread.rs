//! A [`MockServer`] on a thread of its own, for callers without an async
//! runtime of their own to spare (`mmsafe bench scan`, the Python package's
//! tests): its single-threaded runtime keeps the server's CPU on one thread,
//! which the benchmarks read to tell client cost from server cost.

use crate::{MockConfig, MockServer};
use std::io;

pub struct MockThread {
    target_spec: String,
    /// `/proc/<pid>/task/<tid>/stat` of the server thread (Linux).
    stat_path: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl MockThread {
    /// Start the server and wait until it listens on 127.0.0.1.
    pub fn start(config: MockConfig) -> io::Result<MockThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<(String, String)>>();
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
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let server = match MockServer::start(config).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let tid = std::fs::read_link("/proc/thread-self")
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    let stat = format!("/proc/{tid}/stat");
                    let _ = ready_tx.send(Ok((server.target_spec(), stat)));
                    let _ = stopped.await;
                    server.shutdown().await;
                });
            })?;
        let (target_spec, stat_path) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the mock server thread exited before it was ready"))??;
        Ok(MockThread {
            target_spec,
            stat_path,
            stop,
            handle,
        })
    }

    /// `openai-compatible:http://127.0.0.1:PORT/v1#mock`.
    pub fn target_spec(&self) -> &str {
        &self.target_spec
    }

    /// CPU seconds (user + system) the server thread has used, where
    /// `/proc` tells (Linux).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(&self.stat_path).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// Stop the server and wait for its thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }

    /// Stop the server without waiting (a drop path that must not block).
    pub fn stop_detached(self) {
        let _ = self.stop.send(());
    }
}
