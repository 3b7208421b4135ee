//! The `mmsafe` binary: everything is in the library (`lib.rs`), which the
//! Python package's console script calls too.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mmsafe_cli::run_cli(std::env::args_os()))
}
