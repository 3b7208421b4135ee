use crate::exit::Outcome;

#[derive(clap::Args, Debug, Default)]
pub struct ScanArgs {}

impl ScanArgs {
    /// `mmsafe` with no subcommand: the built-in offline defaults.
    pub fn default_offline() -> ScanArgs {
        ScanArgs::default()
    }
}

pub fn run(_args: ScanArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe scan` is not wired yet")
}
