//! `mmsafe guard check` (run the request-side layers of a policy on one input,
//! offline) and `mmsafe guard list` (layer kinds and presets).

use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_core::{Image, Message, Part, Request};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GuardArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Run a policy's request-side layers on one prompt (and images) without calling any target.
    Check(CheckArgs),
    /// List layer kinds and built-in presets.
    List,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The user's text.
    #[arg(long)]
    prompt: String,
    /// An image file sent with the prompt (repeatable).
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// Policy: a preset (`strict`, `balanced`, `permissive`) or a TOML file.
    #[arg(long, default_value = "balanced")]
    policy: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: GuardArgs) -> anyhow::Result<Outcome> {
    match args.which {
        Which::Check(a) => check(a),
        Which::List => {
            println!("layer kinds:");
            for (k, s) in mmsafe_guard::KINDS {
                println!("  {k:<16} {s}");
            }
            println!("presets:");
            for (name, text) in mmsafe_guard::PRESETS {
                let about = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('#')
                    .trim();
                println!("  {name:<16} {about}");
            }
            Ok(Outcome::Ok)
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<Outcome> {
    let mut parts = Vec::new();
    for path in &a.images {
        let bytes = std::fs::read(path).with_context(|| format!("--image {}", path.display()))?;
        let img = Image::sniff(bytes).with_context(|| {
            format!(
                "--image {}: not a PNG, JPEG, GIF, WebP or BMP file",
                path.display()
            )
        })?;
        parts.push(Part::image(img));
    }
    parts.push(Part::text(a.prompt.clone()));
    let req = Request::new(vec![Message::user(parts)]);
    let guard = crate::wiring::defenses::build_guard(&a.policy, &Default::default(), None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt
        .block_on(guard.check_request(&req))
        .context("guard check")?;
    if a.json {
        let v = serde_json::json!({
            "policy": a.policy,
            "decision": report.decision,
            "layers": report.layers,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("policy {}: {}", a.policy, report.decision);
        for s in &report.layers {
            println!(
                "  {:<16} {:<8} {:>8.1} ms  {}",
                s.name, s.decision, s.ms, s.reason
            );
        }
    }
    Ok(Outcome::Ok)
}
