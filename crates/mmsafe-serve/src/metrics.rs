//! Prometheus text exposition of the proxy's counters and latency histogram.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

const BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    /// (decision) → count
    requests: Mutex<BTreeMap<String, u64>>,
    /// (status) → count
    responses: Mutex<BTreeMap<u16, u64>>,
    /// (layer, decision) → count
    events: Mutex<BTreeMap<(String, String), u64>>,
    /// (kind) → count
    upstream_errors: Mutex<BTreeMap<String, u64>>,
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, k: K) {
    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
    *g.entry(k).or_insert(0) += 1;
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn request(&self, decision: &str) {
        bump(&self.requests, decision.to_string());
    }
    pub fn response(&self, status: u16, seconds: f64) {
        bump(&self.responses, status);
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if seconds <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
    pub fn event(&self, layer: &str, decision: &str) {
        bump(&self.events, (layer.to_string(), decision.to_string()));
    }
    pub fn upstream_error(&self, kind: &str) {
        bump(&self.upstream_errors, kind.to_string());
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP mmsafe_requests_total Chat requests by overall guard decision."
        );
        let _ = writeln!(o, "# TYPE mmsafe_requests_total counter");
        for (d, n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "mmsafe_requests_total{{decision=\"{}\"}} {n}", esc(d));
        }
        let _ = writeln!(
            o,
            "# HELP mmsafe_http_responses_total Chat responses by HTTP status."
        );
        let _ = writeln!(o, "# TYPE mmsafe_http_responses_total counter");
        for (s, n) in self
            .responses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "mmsafe_http_responses_total{{status=\"{s}\"}} {n}");
        }
        let _ = writeln!(o, "# HELP mmsafe_guard_events_total Guard layer decisions.");
        let _ = writeln!(o, "# TYPE mmsafe_guard_events_total counter");
        for ((l, d), n) in self.events.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                o,
                "mmsafe_guard_events_total{{layer=\"{}\",decision=\"{}\"}} {n}",
                esc(l),
                esc(d)
            );
        }
        let _ = writeln!(
            o,
            "# HELP mmsafe_upstream_errors_total Failed upstream calls by error kind."
        );
        let _ = writeln!(o, "# TYPE mmsafe_upstream_errors_total counter");
        for (k, n) in self
            .upstream_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(o, "mmsafe_upstream_errors_total{{kind=\"{}\"}} {n}", esc(k));
        }
        let _ = writeln!(
            o,
            "# HELP mmsafe_request_duration_seconds Chat request latency at the proxy."
        );
        let _ = writeln!(o, "# TYPE mmsafe_request_duration_seconds histogram");
        for (i, b) in BUCKETS_S.iter().enumerate() {
            let _ = writeln!(
                o,
                "mmsafe_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "mmsafe_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "mmsafe_request_duration_seconds_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "mmsafe_request_duration_seconds_count {count}");
        o
    }
}
