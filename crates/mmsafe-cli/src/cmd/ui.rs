//! `mmsafe ui [--store FILE] [--listen 127.0.0.1:7860]`: browse runs, label
//! attempts, see human-calibrated numbers (the app is `mmsafe-ui`).

use crate::cmd::runs::open_existing_store;
use crate::exit::{ensure_usage, Outcome};
use crate::flags::StoreArg;
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Address to listen on. Anything but loopback needs `--token` or `--token-file`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7860")]
    listen: String,
    /// Access token every request must carry (the printed link sets it once as a cookie).
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the access token from FILE (first line), so it stays out of `ps`.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Attempts of the random sample the labelling queue serves before the
    /// rows where judges disagree or are unsure.
    #[arg(long, value_name = "N", default_value_t = 100)]
    sample: usize,
}

pub fn run(args: UiArgs) -> anyhow::Result<Outcome> {
    let Ok(listen) = args.listen.parse::<SocketAddr>() else {
        return crate::exit::usage(format!(
            "--listen {}: expected IP:PORT, e.g. 127.0.0.1:7860",
            args.listen
        ));
    };
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--token-file {}: cannot read", p.display()))?;
            Some(text.lines().next().unwrap_or("").trim().to_string())
        }
        (None, None) => None,
    };
    if let Some(t) = &token {
        ensure_usage!(
            t.len() >= 16 && t.chars().all(|c| c.is_ascii_graphic()),
            "--token: at least 16 printable ASCII characters without spaces"
        );
    }
    ensure_usage!(
        mmsafe_ui::is_loopback(&listen) || token.is_some(),
        "--listen {listen}: not a loopback address; anyone who can reach it could read every stored reply and write labels, so give --token or --token-file"
    );
    let path = args.store.path();
    // Fail early with the usual message when there is no store.
    drop(open_existing_store(&path)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("--listen {listen}: cannot bind"))?;
        let bound = listener.local_addr()?;
        let router = mmsafe_ui::router(mmsafe_ui::UiConfig {
            store: path.clone(),
            token: token.clone(),
            sample_size: args.sample,
            listen: bound,
        })?;
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        let url = match &token {
            Some(t) => format!("http://{host}:{}/?token={t}", bound.port()),
            None => format!("http://{host}:{}/", bound.port()),
        };
        // The URL alone on stdout (scripts and tests read it); the rest on stderr.
        crate::exit::outln!("{url}")?;
        eprintln!(
            "mmsafe ui: serving {} — open the link above; Ctrl-C stops",
            path.display()
        );
        mmsafe_ui::serve(listener, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        anyhow::Ok(())
    })?;
    Ok(Outcome::Ok)
}
