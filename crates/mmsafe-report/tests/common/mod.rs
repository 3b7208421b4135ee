//! Helpers shared by this crate's integration tests: the headless browser
//! that screenshots rendered pages.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser to render with: `MMSAFE_CHROMIUM`, else `/usr/bin/chromium`.
pub fn chromium() -> Result<PathBuf, PathBuf> {
    let p = std::env::var_os("MMSAFE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if p.exists() {
        Ok(p)
    } else {
        Err(p)
    }
}

/// Run `cmd` for at most `limit`; a hung browser must fail the test, not the CI job.
pub fn run_with_limit(cmd: &mut Command, limit: Duration) -> Result<bool, String> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("chromium still running after {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for chromium: {e}")),
        }
    }
}
