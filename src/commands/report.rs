//! `racebench report`: a static HTML site of a results folder.

use racebench_grader::{report, ReportOptions};

use crate::args::ReportArgs;
use crate::commands::grade::load_and_grade;
use crate::commands::Context;
use crate::exit_code;
use crate::output;

pub fn report(ctx: &Context, args: ReportArgs) -> anyhow::Result<i32> {
    let weights = ctx.weights()?;
    let run = racebench_grader::load_run(&args.run_dir)?;
    let summary = load_and_grade(&args.run_dir, &weights)?;
    let mut options = ReportOptions::new(&args.out);
    options.templates_dir = args.templates.clone();
    let files = report::write(&run, &summary, &options)?;
    files.warnings.iter().for_each(output::warning);
    println!("{}", files.index.display());
    Ok(exit_code::SUCCESS)
}
