//! `mmsafe export sft|dpo`: alignment training data from stored runs.
//!
//! Only counts reach the terminal; prompts and answers go to the output file.

use crate::cmd::runs::open_existing_store;
use crate::exit::Outcome;
use mmsafe_export::{Counts, ExportOptions, Format, SelectOptions, Task, Templates};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// SFT examples: attack successes → a refusal we write; over-refusals →
    /// a judged answer to the same base case from any given run.
    Sft {
        #[command(flatten)]
        common: Common,
        /// Also emit benign requests that were answered (keeps helpfulness).
        #[arg(long)]
        include_benign: bool,
    },
    /// Preference pairs (prompt, chosen, rejected), paired on the base case.
    Dpo {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum FormatArg {
    /// OpenAI chat fine-tuning / preference JSONL; images inlined as data URLs.
    Openai,
    /// LLaVA `conversations` with `<image>` tokens; images as files in --images DIR.
    Llava,
    /// LLaMA-Factory ShareGPT; images as files in --images DIR.
    Sharegpt,
}

#[derive(clap::Args, Debug)]
struct Common {
    /// Run id, name, unique id prefix, or `latest`; repeat to pool runs
    /// (e.g. the undefended run and another target's run).
    #[arg(long = "run", value_name = "RUN", required = true)]
    runs: Vec<String>,
    /// Output JSONL file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only this judge's verdicts count [default: all judges must agree].
    #[arg(long, value_name = "JUDGE")]
    judge: Option<String>,
    /// Folder for image files, named by sha256 (llava, sharegpt).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "openai")]
    format: FormatArg,
    /// TOML file overriding refusal texts: hazard slug (or `default`) = "text" or ["text", …].
    #[arg(long, value_name = "FILE")]
    refusal_template: Option<PathBuf>,
    /// Keep at most N examples, sampled with --seed.
    #[arg(long, value_name = "N")]
    max: Option<usize>,
    /// Seed for --max sampling and for picking among several refusal texts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also train on answers cut off at the token limit.
    #[arg(long)]
    allow_truncated: bool,
    /// Leave out the provenance `meta` object (for strict trainers).
    #[arg(long)]
    no_meta: bool,
    /// Skipped-attempt report (JSONL, ids and reasons only) [default: <out>.skipped.jsonl].
    #[arg(long, value_name = "FILE")]
    skipped: Option<PathBuf>,
    #[command(flatten)]
    output: crate::flags::JsonArg,
    #[command(flatten)]
    store: crate::flags::StoreArg,
}

pub fn run(args: ExportArgs) -> anyhow::Result<Outcome> {
    let (task, common, include_benign) = match args.which {
        Which::Sft {
            common,
            include_benign,
        } => (Task::Sft, common, include_benign),
        Which::Dpo { common } => (Task::Dpo, common, false),
    };
    let store = open_existing_store(&common.store.path())?;
    let templates = match &common.refusal_template {
        Some(p) => Templates::from_toml_file(p)?,
        None => Templates::built_in(),
    };
    let format = match common.format {
        FormatArg::Openai => Format::Openai,
        FormatArg::Llava => Format::Llava,
        FormatArg::Sharegpt => Format::Sharegpt,
    };
    let opts = ExportOptions {
        runs: common.runs.clone(),
        judge: common.judge.clone(),
        select: SelectOptions {
            task,
            include_benign,
            allow_truncated: common.allow_truncated,
            templates,
            seed: common.seed,
            max: common.max,
        },
        format,
        images: common.images.clone(),
        meta: !common.no_meta,
    };
    let skipped = common
        .skipped
        .clone()
        .unwrap_or_else(|| mmsafe_export::skipped_path(&common.out));
    let counts = mmsafe_export::export(&store, &opts, &common.out, Some(&skipped))?;
    eprint!("{}", summary(&counts, &common, &skipped));
    if common.output.json {
        let mut v = serde_json::to_value(&counts)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("out".into(), common.out.display().to_string().into());
            o.insert(
                "skipped_report".into(),
                skipped.display().to_string().into(),
            );
        }
        crate::exit::outln!("{}", serde_json::to_string_pretty(&v)?)?;
    }
    Ok(Outcome::Ok)
}

fn list(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary(c: &Counts, common: &Common, skipped: &std::path::Path) -> String {
    let mut s = format!(
        "exported {} {} examples ({}) from {} run(s), {} attempts -> {}\n",
        c.emitted,
        c.task.as_str(),
        c.format.as_str(),
        c.runs.len(),
        c.attempts,
        common.out.display()
    );
    if !c.by_kind.is_empty() {
        s += &format!("  by kind: {}\n", list(&c.by_kind));
    }
    if !c.answers_from.is_empty() {
        let what = match c.task {
            Task::Sft => "answers",
            Task::Dpo => "chosen",
        };
        s += &format!("  {what} from: {}\n", list(&c.answers_from));
    }
    s += &format!(
        "  skipped {}{}{} (list: {})\n",
        c.skipped,
        if c.skipped > 0 { ": " } else { "" },
        list(&c.skipped_by_reason),
        skipped.display()
    );
    let not_selected: u64 = c.not_selected.values().sum();
    if not_selected > 0 {
        s += &format!("  not selected {not_selected}: {}\n", list(&c.not_selected));
    }
    if c.images > 0 {
        s += &format!("  images: {} referenced", c.images);
        match &common.images {
            Some(dir) => s += &format!(", {} written to {}\n", c.images_written, dir.display()),
            None => s += " (inlined)\n",
        }
    }
    s
}
