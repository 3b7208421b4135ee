//! `mmsafe`: measure, attack and defend multimodal LLMs.
//!
//! This crate is glue: it parses flags, builds plugins from their specs
//! (`wiring`), hands them to the library crates and maps outcomes to exit codes.
//! Each subcommand lives in its own file under `cmd/`.
//!
//! It is a library as well as the `mmsafe` binary so that other front ends
//! (the Python package in `python/`) call the same functions the `cmd/` files
//! call, and the `mmsafe` command installed by `pip` is [`run_cli`].

pub mod cmd;
pub mod exit;
pub mod flags;
pub mod wiring;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

#[derive(Parser)]
#[command(
    name = "mmsafe",
    version,
    about = "Safety toolkit for multimodal LLMs: evaluate, attack, defend",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Log filter (also `MMSAFE_LOG`), e.g. `info` or `mmsafe_engine=debug`.
    #[arg(long, global = true, env = "MMSAFE_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a suite against a target, judge every response, report.
    Scan(cmd::scan::ScanArgs),
    /// Build attack inputs (images + manifest) or list attacks.
    Attack(cmd::attack::AttackArgs),
    /// Run the guard layers on one input, or tune the adaptive prompt library.
    Guard(cmd::guard::GuardArgs),
    /// OpenAI-compatible proxy that runs the guard pipeline in front of a model.
    Serve(cmd::serve::ServeArgs),
    /// Judge responses, re-judge runs, train and calibrate judges.
    Judge(cmd::judge::JudgeArgs),
    /// List, validate and show dataset files.
    Datasets(cmd::datasets::DatasetsArgs),
    /// Build alignment training data (SFT, preference pairs) from runs.
    Export(cmd::export::ExportArgs),
    /// Manage local model files.
    Models(cmd::models::ModelsArgs),
    /// List, show and compare runs in the store.
    Runs(cmd::runs::RunsArgs),
    /// Render a run's report.
    Report(cmd::report::ReportArgs),
    /// Why a run's model is unsafe: modality uplift, backbone vs MLLM, reliance, defenses.
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Local web app: browse runs and attempts, label with the keyboard, calibrated numbers.
    Ui(cmd::ui::UiArgs),
    /// Human labels on a run's attempts: add, list, export, import, agreement.
    Labels(cmd::labels::LabelsArgs),
    /// Benchmarks that print measured figures.
    Bench(cmd::bench::BenchArgs),
}

/// The whole `mmsafe` command line: parse `args` (the program name first),
/// run the subcommand, print what it prints, and return the exit code
/// (`exit` lists them). Used by the binary and by the Python console script.
pub fn run_cli<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(exit::USAGE);
        }
    };
    init_logging(&cli.log);
    let command = cli
        .command
        .unwrap_or_else(|| Command::Scan(cmd::scan::ScanArgs::default_offline()));
    let result = match command {
        Command::Scan(a) => cmd::scan::run(a),
        Command::Attack(a) => cmd::attack::run(a),
        Command::Guard(a) => cmd::guard::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Judge(a) => cmd::judge::run(a),
        Command::Datasets(a) => cmd::datasets::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Models(a) => cmd::models::run(a),
        Command::Runs(a) => cmd::runs::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Ui(a) => cmd::ui::run(a),
        Command::Labels(a) => cmd::labels::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    exit::code(result)
}

/// Log lines on stderr, filtered by `filter` (`MMSAFE_LOG` syntax); a second
/// call in the same process keeps the first subscriber.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in captured logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_cli_returns_the_exit_code_instead_of_exiting() {
        assert_eq!(super::run_cli(["mmsafe", "--version"]), 0);
        assert_eq!(
            super::run_cli(["mmsafe", "scan", "--concurrency", "0"]),
            super::exit::USAGE
        );
        assert_eq!(
            super::run_cli(["mmsafe", "no-such-command"]),
            super::exit::USAGE
        );
    }
}
