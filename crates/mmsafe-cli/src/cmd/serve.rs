use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe serve` is not wired yet")
}
