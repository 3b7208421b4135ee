//! Load generation for `mmsafe bench guard`: the same requests sent directly
//! to an upstream and through the proxy, over loopback.

use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client tuned for loopback load: keep-alive, no proxy settings.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())
}

/// One chat request; milliseconds until the whole body was read.
pub async fn timed(client: &reqwest::Client, base_url: &str, body: &Value) -> Result<f64, String> {
    let t = Instant::now();
    let r = client
        .post(
            mmsafe_target::endpoint_url(base_url, "chat/completions")
                .unwrap_or_else(|_| format!("{base_url}/chat/completions")),
        )
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{base_url}: {e}"))?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| format!("{base_url}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{base_url}: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ));
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

/// Latencies of `bodies` sent one at a time, alternating direct and proxied
/// so both see the same machine state.
pub async fn paired(
    client: &reqwest::Client,
    direct: &str,
    proxied: &str,
    bodies: &[Value],
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let mut d = Vec::with_capacity(bodies.len());
    let mut p = Vec::with_capacity(bodies.len());
    for b in bodies {
        d.push(timed(client, direct, b).await?);
        p.push(timed(client, proxied, b).await?);
    }
    Ok((d, p))
}

/// Completed requests per second with `concurrency` closed-loop workers for
/// `duration`, cycling through `bodies`. Errors abort.
pub async fn throughput(
    client: &reqwest::Client,
    base_url: &str,
    bodies: Arc<Vec<Value>>,
    concurrency: usize,
    duration: Duration,
) -> Result<f64, String> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency.max(1) {
        let (client, url, bodies, done, stop) = (
            client.clone(),
            base_url.to_string(),
            bodies.clone(),
            done.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                timed(&client, &url, &bodies[i % bodies.len()]).await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += concurrency;
            }
            Ok::<(), String>(())
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(counted as f64 / elapsed)
}

/// The `q`-quantile (0–1) of `v`, nearest rank.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::quantile(&v, 0.5), 50.0);
        assert_eq!(super::quantile(&v, 0.99), 99.0);
        assert_eq!(super::quantile(&v, 1.0), 100.0);
    }
}
