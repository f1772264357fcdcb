use crate::args::TimelineArgs;
pub fn timeline(_args: TimelineArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
