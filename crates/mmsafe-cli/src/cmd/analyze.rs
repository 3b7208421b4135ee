//! `mmsafe analyze RUN [--baseline RUN] [--json] [--html FILE]`: why a model
//! is unsafe — modality uplift, backbone versus MLLM, what the attacks rely
//! on, defense effect, ranking (docs/analyze.md).

use crate::exit::Outcome;
use anyhow::Context as _;
use mmsafe_store::AnalyzeRequest;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Run id, name, unique id prefix, or `latest`.
    run: String,
    /// A run of the text-only backbone (or another model) on the same suite,
    /// compared per hazard on the attempts both runs share.
    #[arg(long, value_name = "RUN")]
    baseline: Option<String>,
    /// Judge whose verdicts are analysed [default: the run's first judge].
    #[arg(long)]
    judge: Option<String>,
    #[command(flatten)]
    json: crate::flags::JsonArg,
    /// Also write the self-contained HTML page with the four figures to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    store: crate::flags::StoreArg,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let path = args.store.path();
    let store = crate::cmd::runs::open_existing_store(&path)?;
    let analysis = store.analyze(&AnalyzeRequest {
        run: &args.run,
        baseline: args.baseline.as_deref(),
        judge: args.judge.as_deref(),
        bootstrap: Default::default(),
    })?;
    if let Some(p) = &args.html {
        std::fs::write(p, mmsafe_report::render_analysis_html(&analysis))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    let text = if args.json.json {
        let mut s = serde_json::to_string_pretty(&mmsafe_report::render_analysis_json(&analysis))?;
        s.push('\n');
        s
    } else {
        mmsafe_report::render_analysis_text(&analysis)
    };
    crate::exit::write_stdout(&text)?;
    Ok(Outcome::Ok)
}
