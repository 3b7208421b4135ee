//! `mmsafe bench …`: benchmarks that print measured figures (never timed tests).

mod adversarial;
mod attack;
mod guard;
mod local;
mod scan;
mod scan_shards;
mod ui;

use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Scan throughput against a loopback endpoint with fixed latency.
    Scan(scan::Args),
    /// FigStep image rendering throughput.
    Attack(attack::Args),
    /// Guard proxy overhead against direct upstream.
    Guard(guard::Args),
    /// Local model speed: SmolLM2 tokens/s, embeddings/s, OCR ms/image.
    Local(local::Args),
    /// Seconds per PGD step on a ViT-B/32-shaped surrogate.
    Adversarial(adversarial::Args),
    /// Server time of `mmsafe ui`'s attempts page and run overview on a 100,000-attempt run.
    Ui(ui::Args),
}

pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    match args.which {
        Which::Scan(a) => scan::run(a),
        Which::Attack(a) => attack::run(a),
        Which::Guard(a) => guard::run(a),
        Which::Local(a) => local::run(a),
        Which::Adversarial(a) => adversarial::run(a),
        Which::Ui(a) => ui::run(a),
    }
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = 100.0; // USER_HZ is 100 on every Linux we target.
    Some((utime + stime) / ticks)
}
