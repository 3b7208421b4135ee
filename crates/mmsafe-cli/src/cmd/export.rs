use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {}

pub fn run(_args: ExportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe export` is not wired yet")
}
