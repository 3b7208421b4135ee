use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct AttackArgs {}

pub fn run(_args: AttackArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe attack` is not wired yet")
}
