use crate::args::CalibrateArgs;
use crate::commands::Context;
pub async fn calibrate(_ctx: &Context, _args: CalibrateArgs) -> anyhow::Result<i32> { anyhow::bail!("not wired yet") }
