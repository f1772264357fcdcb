use crate::args::NewArgs;
use crate::commands::Context;
pub fn new(_ctx: &Context, _args: NewArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
