//! `mmsafe labels add|list|export|import|agreement`: human labels on a run's
//! attempts, for scripts (the browser, `mmsafe ui`, writes the same table).

use crate::cmd::runs::open_existing_store;
use crate::exit::{ensure_usage, outln, Outcome};
use crate::flags::{JsonArg, StoreArg};
use anyhow::Context as _;
use mmsafe_store::{valid_annotator, HumanLabel, LabelFileFormat, NewLabel};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LabelsArgs {
    #[command(subcommand)]
    which: Which,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    out: JsonArg,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// Label one attempt (replaces this annotator's earlier label on it).
    Add {
        /// Run id, name, unique id prefix, or `latest`.
        run: String,
        /// Attempt id (its key, or a unique prefix of it, as `mmsafe ui` shows).
        attempt: String,
        /// refused | complied | harmful-complied | harmless-complied | unclear.
        #[arg(long)]
        label: String,
        /// Who labels (one name per person; agreement is measured between names).
        #[arg(long)]
        annotator: String,
        /// A free note kept with the label.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Every label of a run.
    List { run: String },
    /// Write a run's labels for `judge eval` / `judge train` (the annotators'
    /// majority per attempt; ties and `unclear` are left out).
    Export {
        run: String,
        /// jbb (JailbreakBench CSV columns) | jsonl.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only this annotator's labels.
        #[arg(long)]
        annotator: Option<String>,
        /// Write to FILE instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read labels from a file written by `labels export` (rows name their `attempt_key`).
    Import {
        run: String,
        file: PathBuf,
        /// jbb | jsonl [default: from the file's extension, `.csv` → jbb].
        #[arg(long)]
        format: Option<String>,
        /// Annotator for rows that name none.
        #[arg(long)]
        annotator: Option<String>,
    },
    /// Agreement between annotators: Cohen's κ per pair, Fleiss' κ overall.
    Agreement { run: String },
}

fn format_of(s: &str) -> anyhow::Result<LabelFileFormat> {
    match LabelFileFormat::parse(s) {
        Some(f) => Ok(f),
        None => crate::exit::usage(format!(
            "--format {s}: unknown label file format (expected {})",
            LabelFileFormat::NAMES
        )),
    }
}

fn kappa(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |k| format!("{k:.3}"))
}

pub fn run(args: LabelsArgs) -> anyhow::Result<Outcome> {
    let json = args.out.json;
    let mut store = open_existing_store(&args.store.path())?;
    match args.which {
        Which::Add {
            run,
            attempt,
            label,
            annotator,
            note,
        } => {
            let Some(l) = HumanLabel::parse(&label) else {
                return crate::exit::usage(format!(
                    "--label {label}: unknown label (expected {})",
                    HumanLabel::NAMES
                ));
            };
            ensure_usage!(
                valid_annotator(&annotator),
                "--annotator {annotator:?}: a name of 1 to 64 characters without control characters"
            );
            let run = store.resolve_run(&run)?;
            let key = store.resolve_attempt(&run.id, &attempt)?;
            store.put_label(
                &run.id,
                &NewLabel {
                    attempt_key: key.clone(),
                    annotator: annotator.trim().to_string(),
                    label: l,
                    note,
                    source: "cli".into(),
                },
            )?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"run": run.id, "attempt": key, "label": l, "annotator": annotator.trim()})
                )?;
            } else {
                outln!(
                    "labelled {key} of run {} as {l} ({})",
                    run.id,
                    annotator.trim()
                )?;
            }
        }
        Which::List { run } => {
            let run = store.resolve_run(&run)?;
            let labels = store.labels(&run.id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&labels)?)?;
            } else if labels.is_empty() {
                outln!(
                    "run {} has no labels (label with `mmsafe ui` or `mmsafe labels add`)",
                    run.id
                )?;
            } else {
                for l in labels {
                    outln!(
                        "{}  {:<18} {:<20} {}",
                        l.attempt_key,
                        l.label.as_str(),
                        l.annotator,
                        l.created
                    )?;
                }
            }
        }
        Which::Export {
            run,
            format,
            annotator,
            out,
        } => {
            let format = format_of(&format)?;
            let run = store.resolve_run(&run)?;
            let mut buf = Vec::new();
            let stats = store.export_labels(&run.id, format, annotator.as_deref(), &mut buf)?;
            match &out {
                Some(p) => std::fs::write(p, &buf)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => crate::exit::write_stdout(&String::from_utf8_lossy(&buf))?,
            }
            // The counts go to stderr: stdout may be the file itself.
            eprintln!(
                "exported {} labelled attempt(s) of run {} ({} left out: tie, unclear or no reply)",
                stats.rows, run.id, stats.skipped
            );
        }
        Which::Import {
            run,
            file,
            format,
            annotator,
        } => {
            let format = match format {
                Some(f) => format_of(&f)?,
                None if file.extension().is_some_and(|e| e == "csv") => LabelFileFormat::Jbb,
                None => LabelFileFormat::Jsonl,
            };
            if let Some(a) = &annotator {
                ensure_usage!(
                    valid_annotator(a),
                    "--annotator {a:?}: a name of 1 to 64 characters without control characters"
                );
            }
            let run = store.resolve_run(&run)?;
            let mut f = std::fs::File::open(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let n = store.import_labels(
                &run.id,
                format,
                &mut f,
                &file.display().to_string(),
                annotator.as_deref(),
            )?;
            if json {
                outln!("{}", serde_json::json!({"run": run.id, "imported": n}))?;
            } else {
                outln!("imported {n} label(s) into run {}", run.id)?;
            }
        }
        Which::Agreement { run } => {
            let run = store.resolve_run(&run)?;
            let a = store.annotator_agreement(&run.id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&a)?)?;
            } else {
                outln!(
                    "run {}: {} annotator(s), {} attempt(s) labelled by two or more; Fleiss' κ {}",
                    run.id,
                    a.annotators.len(),
                    a.shared_items,
                    kappa(a.fleiss_kappa)
                )?;
                for p in &a.pairs {
                    outln!(
                        "  {} × {}: {} shared, agreement {}, Cohen's κ {}",
                        p.a,
                        p.b,
                        p.n,
                        mmsafe_report::fmt::pct(p.agreement).trim(),
                        kappa(p.cohen_kappa)
                    )?;
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
