use crate::args::BenchArgs;
use crate::commands::Context;
pub async fn bench(_ctx: &Context, _args: BenchArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
