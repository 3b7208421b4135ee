//! `mmsafe serve`: the OpenAI-compatible guard proxy.

use crate::exit::{ensure_usage, usage, Outcome};
use anyhow::Context as _;
use mmsafe_core::Layer;
use mmsafe_serve::{Limits, Secret, ServeConfig};
use mmsafe_target::{CacheMode, TargetOptions};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Upstream OpenAI-compatible base URL, e.g. `http://127.0.0.1:8000/v1`.
    #[arg(long)]
    upstream: String,
    /// Env var holding the upstream API key (never logged).
    #[arg(long)]
    upstream_key_env: Option<String>,
    /// Policy: `strict`, `balanced`, `permissive`, a TOML file, or `none`.
    #[arg(long, default_value = "balanced")]
    policy: String,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// File with one client API key per line; without it, no authentication.
    #[arg(long)]
    api_keys_file: Option<PathBuf>,
    /// Let requests through (recording an error event) when a guard layer fails.
    #[arg(long)]
    fail_open: bool,
    /// Host whose http(s) image URLs may be fetched (repeatable); others are refused.
    #[arg(long = "allow-image-host")]
    image_hosts: Vec<String>,
    /// Largest request body in MiB.
    #[arg(long, default_value_t = 20)]
    max_body_mib: usize,
    /// Largest image in MiB.
    #[arg(long, default_value_t = 10)]
    max_image_mib: usize,
    /// Largest image in megapixels (width × height declared by its header).
    #[arg(long, default_value_t = 40.0)]
    max_image_megapixels: f64,
    /// SQLite audit log of decisions.
    #[arg(long, default_value = "mmsafe-audit.sqlite")]
    audit: PathBuf,
    /// Do not write the audit log.
    #[arg(long)]
    no_audit: bool,
    /// Upstream request timeout in seconds (at least 1).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Upstream retries on transient errors.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Most upstream requests in flight.
    #[arg(long, value_name = "N", default_value = "256")]
    concurrency: NonZeroUsize,
    #[command(flatten)]
    limits: super::serve_limits::ServeLimitArgs,
}

pub fn run(a: ServeArgs) -> anyhow::Result<Outcome> {
    // Before loading any model: a typo in the URL must not start a proxy
    // whose every request fails.
    if let Err(e) = mmsafe_serve::check_upstream_url(&a.upstream) {
        return usage(format!("--upstream: {e}"));
    }
    // Also refuses NaN and infinity, which no image size compares with.
    ensure_usage!(
        a.max_image_megapixels.is_finite() && a.max_image_megapixels > 0.0,
        "--max-image-megapixels {} must be above 0",
        a.max_image_megapixels
    );
    let opts = TargetOptions {
        api_key_env: a.upstream_key_env.clone(),
        // A proxy must not answer one client from another client's cache.
        cache: CacheMode::Off,
        timeout: Duration::from_secs(a.timeout),
        max_retries: a.retries,
        concurrency: a.concurrency.get(),
        ..TargetOptions::default()
    };
    let upstream_key = match &a.upstream_key_env {
        Some(var) => Some(Secret(std::env::var(var).with_context(|| {
            format!("--upstream-key-env {var}: the variable is not set")
        })?)),
        None => None,
    };
    let api_keys = match &a.api_keys_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--api-keys-file {}", p.display()))?;
            let keys = mmsafe_serve::auth::parse_keys_file(&text);
            anyhow::ensure!(
                !keys.is_empty(),
                "--api-keys-file {}: no keys in the file",
                p.display()
            );
            keys
        }
        None => Vec::new(),
    };
    if api_keys.is_empty() && !a.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {} without --api-keys-file: anyone who can reach it can use the upstream",
            a.listen
        );
    }
    let guard: Option<Arc<dyn Layer>> = if a.policy == "none" {
        None
    } else {
        let fail_open = a.fail_open.then_some(true);
        let guard = crate::wiring::defenses::build_guard(&a.policy, &opts, fail_open)?;
        guard.warm_up().context("warming up the guard layers")?;
        Some(Arc::new(guard))
    };
    let base = a.upstream.trim_end_matches('/').to_string();
    let upstream_opts = opts.clone();
    let upstream_url = base.clone();
    let cfg = ServeConfig {
        listen: a.listen,
        guard,
        policy_name: a.policy.clone(),
        upstream: Arc::new(move |model: &str| {
            crate::wiring::targets::build_target(
                &format!("openai-compatible:{upstream_url}#{model}"),
                &upstream_opts,
            )
            .map_err(|e| format!("{e:#}"))
        }),
        upstream_url: base,
        upstream_key,
        api_keys,
        limits: a.limits.apply(Limits {
            max_body_bytes: a.max_body_mib * 1024 * 1024,
            max_image_bytes: a.max_image_mib * 1024 * 1024,
            max_image_pixels: (a.max_image_megapixels * 1e6) as u64,
            ..Limits::default()
        })?,
        image_hosts: a.image_hosts.clone(),
        audit_path: (!a.no_audit).then(|| a.audit.clone()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let running = mmsafe_serve::start(cfg).await?;
        eprintln!(
            "mmsafe serve: policy `{}` on http://{}/v1 -> {}",
            a.policy,
            running.addr(),
            a.upstream
        );
        running.run_until(shutdown_signal()).await?;
        eprintln!("mmsafe serve: stopped");
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
