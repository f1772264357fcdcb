use crate::args::ValidateArgs;
use crate::commands::Context;
pub async fn validate(_ctx: &Context, _args: ValidateArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
