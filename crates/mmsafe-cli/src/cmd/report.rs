use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe report` is not wired yet")
}
