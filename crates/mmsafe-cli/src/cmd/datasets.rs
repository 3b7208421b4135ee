use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {}

pub fn run(_args: DatasetsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe datasets` is not wired yet")
}
