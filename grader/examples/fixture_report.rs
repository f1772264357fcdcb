//! Writes the HTML report of the test fixture run, for looking at the pages
//! in a browser: `cargo run -p racebench-grader --example fixture_report -- OUT_DIR`.

use std::path::Path;

use racebench_grader::report::{self, ReportOptions};
use racebench_grader::{grade, load_run};
use racebench_model::WeightsSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/fixture-report".into());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let run = load_run(&fixtures.join("run"))?;
    let (weights, _) = WeightsSet::load_dir(&fixtures.join("weights"))?;
    let summary = grade(&run, &weights)?;
    let files = report::write(&run, &summary, &ReportOptions::new(&out))?;
    for warning in &files.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", files.index.display());
    Ok(())
}
