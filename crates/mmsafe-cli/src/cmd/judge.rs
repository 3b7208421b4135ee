use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct JudgeArgs {}

pub fn run(_args: JudgeArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`mmsafe judge` is not wired yet")
}
