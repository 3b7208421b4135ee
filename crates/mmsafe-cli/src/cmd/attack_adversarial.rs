//! `mmsafe attack adversarial:<mode> …`: gradient attacks on surrogate encoders.
use crate::exit::Outcome;

/// Called by `cmd::attack` for names starting with `adversarial:`; `argv` are the
/// remaining command-line words after the attack name.
pub fn run(name: &str, _argv: &[String]) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe attack {name}` is not wired yet")
}
