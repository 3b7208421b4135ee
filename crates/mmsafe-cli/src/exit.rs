//! Exit codes, decided in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | error (bad input, unreachable endpoint, …) |
//! | 2 | usage error (clap) |
//! | 3 | a `--fail-above` gate failed |
//! | 130 | interrupted (Ctrl-C); the run is resumable |

use std::process::ExitCode;

/// What a subcommand reports besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    GateFailed,
    Interrupted,
}

pub const GATE_FAILED: u8 = 3;
pub const INTERRUPTED: u8 = 130;

pub fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::GateFailed) => ExitCode::from(GATE_FAILED),
        Ok(Outcome::Interrupted) => ExitCode::from(INTERRUPTED),
        Err(err) => {
            // `mmsafe … | head` closing the pipe is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
