use crate::args::ReportArgs;
use crate::commands::Context;
pub fn report(_ctx: &Context, _args: ReportArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
