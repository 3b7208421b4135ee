//! Exit codes, decided in one place, and stdout writes that survive a closed pipe.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | error (bad input, unreachable endpoint, …) |
//! | 2 | usage error (clap, or a flag value rejected by a command: [`UsageError`]) |
//! | 3 | a `--fail-above` gate failed |
//! | 130 | interrupted (Ctrl-C); the run is resumable |

use std::io::Write as _;
use std::process::ExitCode;

/// What a subcommand reports besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    GateFailed,
    Interrupted,
}

pub const USAGE: u8 = 2;
pub const GATE_FAILED: u8 = 3;
pub const INTERRUPTED: u8 = 130;

/// A flag value a command rejects after parsing (e.g. `--fail-above asr=1.5`):
/// exits 2 like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `Err(UsageError)` as an `anyhow` error, for `return usage(…)`.
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// `anyhow::ensure!` for flag values: a [`UsageError`] (exit 2) when `cond` is false.
macro_rules! ensure_usage {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return $crate::exit::usage(format!($($arg)*));
        }
    };
}
pub(crate) use ensure_usage;

/// Write to stdout without panicking when the reader has gone (`mmsafe … | head`):
/// the BrokenPipe error travels up to [`finish`], which exits quietly.
pub fn write_stdout(s: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// `println!` that returns an `io::Result` instead of panicking on a closed stdout.
macro_rules! outln {
    () => {
        $crate::exit::write_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::exit::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

pub fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    ExitCode::from(code(result))
}

/// The exit code of a subcommand's result, after printing its error (if any)
/// on stderr.
pub fn code(result: anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Ok) => 0,
        Ok(Outcome::GateFailed) => GATE_FAILED,
        Ok(Outcome::Interrupted) => INTERRUPTED,
        Err(err) => {
            // `mmsafe … | head` closing the pipe is not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return 0;
            }
            let lines = error_lines(&err);
            // Stderr may be closed too; nothing more to say then.
            let _ = writeln!(std::io::stderr().lock(), "{}", lines.join("\n"));
            if err
                .chain()
                .any(|c| c.downcast_ref::<UsageError>().is_some())
            {
                return USAGE;
            }
            1
        }
    }
}

/// `error: …` then each cause not already quoted by the line before it
/// (many errors repeat their source in their own message, e.g. `store x.db:
/// file is not a database`), with URL credentials redacted.
pub fn error_lines(err: &anyhow::Error) -> Vec<String> {
    let mut shown = err.to_string();
    let mut lines = vec![format!("error: {}", redact_urls(&shown))];
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if repeats(&shown, &text) {
            continue;
        }
        lines.push(format!("  caused by: {}", redact_urls(&text)));
        shown = text;
    }
    lines
}

/// Whether `cause` says nothing that the printed line `shown` does not: its
/// whole text is in it, or `shown` ends with the cause's last `: ` part (its
/// own words without a code prefix such as SQLite's `Error code 26: `).
/// Only the end of `shown` counts for that part, because a short one (`5`)
/// turns up by chance anywhere (`line 5`) and would hide a real cause.
fn repeats(shown: &str, cause: &str) -> bool {
    let cause = cause.trim();
    if shown.contains(cause) {
        return true;
    }
    let core = cause.rsplit(": ").next().unwrap_or(cause).trim();
    !core.is_empty() && shown.trim_end().ends_with(&format!(": {core}"))
}

/// Credentials in any URL an error message quotes (`http://user:pw@…`,
/// `?api-key=…`): whoever built the message, they do not reach the terminal
/// or a CI log.
fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    text.split(' ')
        .map(|w| {
            if w.contains("://") {
                mmsafe_target::redact_url(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_success_and_usage_is_two() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(finish(Err(pipe)), ExitCode::SUCCESS);
        let u: anyhow::Result<Outcome> = usage("--concurrency must be at least 1");
        assert_eq!(finish(u), ExitCode::from(USAGE));
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let e = anyhow::anyhow!("Error code 26: file is not a database")
            .context("store x.db: file is not a database");
        assert_eq!(
            error_lines(&e),
            ["error: store x.db: file is not a database"]
        );
        let e = anyhow::anyhow!("connection refused").context("cannot reach http://h/v1");
        assert_eq!(error_lines(&e).len(), 2);
    }

    #[test]
    fn a_short_cause_found_by_chance_in_the_line_above_is_shown() {
        let e = anyhow::anyhow!("invalid digit found in string: 5")
            .context("plan.toml line 5: bad `repeats`");
        assert_eq!(
            error_lines(&e),
            [
                "error: plan.toml line 5: bad `repeats`",
                "  caused by: invalid digit found in string: 5"
            ]
        );
        // The same tail at the end of the line above is a repeat.
        let e = anyhow::anyhow!("invalid digit found in string: 5").context("bad `repeats`: 5");
        assert_eq!(error_lines(&e), ["error: bad `repeats`: 5"]);
        // So is a cause quoted whole, anywhere in the line.
        let e = anyhow::anyhow!("disk full").context("write run.db (disk full), retry later");
        assert_eq!(error_lines(&e).len(), 1);
    }

    #[test]
    fn urls_in_error_lines_lose_their_credentials() {
        let e = redact_urls(
            "POST http://user:PW@127.0.0.1:1/v1?api-key=Q/chat/completions: connection refused",
        );
        assert!(!e.contains("PW") && !e.contains("=Q"), "{e}");
        assert!(
            e.contains("127.0.0.1:1/v1") && e.ends_with("connection refused"),
            "{e}"
        );
    }
}
