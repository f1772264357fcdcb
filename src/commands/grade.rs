//! `racebench grade`: scores a results folder under the current (or other)
//! weights without re-running anything; also the summary printed after a run.

use std::path::Path;

use anyhow::Context as _;
use racebench_grader::{grade as score, junit, load_run, text, Summary};
use racebench_model::WeightsSet;

use crate::args::{GradeArgs, GradeFormat};
use crate::commands::Context;
use crate::exit_code;

pub fn grade(ctx: &Context, args: GradeArgs) -> anyhow::Result<i32> {
    let weights = ctx.weights()?;
    let summary = load_and_grade(&args.run_dir, &weights)?;
    let rendered = match args.format {
        GradeFormat::Text => text::render(&summary),
        GradeFormat::Json => summary.to_json(),
        GradeFormat::Junit => junit::render(&summary),
    };
    match &args.out {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("failed to write {}", path.display()))?,
        None => print!("{rendered}"),
    }
    Ok(exit_code::SUCCESS)
}

pub fn load_and_grade(run_dir: &Path, weights: &WeightsSet) -> anyhow::Result<Summary> {
    let run = load_run(run_dir)?;
    Ok(score(&run, weights)?)
}

/// Grades a run folder, prints the table and writes `summary.json` and
/// `junit.xml` into it.
pub fn summarize_run(run_dir: &Path, weights: &WeightsSet) -> anyhow::Result<Summary> {
    let summary = load_and_grade(run_dir, weights)?;
    for (file, content) in [
        ("summary.json", summary.to_json()),
        ("junit.xml", junit::render(&summary)),
    ] {
        racebench_runner::results::write_atomic(&run_dir.join(file), content.as_bytes())?;
    }
    print!("{}", text::render(&summary));
    Ok(summary)
}
