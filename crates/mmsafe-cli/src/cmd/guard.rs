use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct GuardArgs {}

pub fn run(_args: GuardArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe guard` is not wired yet")
}
