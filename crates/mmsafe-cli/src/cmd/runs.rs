use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {}

pub fn run(_args: RunsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe runs` is not wired yet")
}
