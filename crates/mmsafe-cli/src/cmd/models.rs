use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {}

pub fn run(_args: ModelsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe models` is not wired yet")
}
