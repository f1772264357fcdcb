//! `racebench list`: the datapoints, one line each.

use crate::commands::Context;
use crate::exit_code;

pub fn list(ctx: &Context) -> anyhow::Result<i32> {
    let datapoints = ctx.datapoints()?;
    let weights = ctx.weights().ok();
    if datapoints.is_empty() {
        println!("no datapoints in {}", ctx.datapoints_dir.display());
        return Ok(exit_code::SUCCESS);
    }
    let width = datapoints
        .iter()
        .map(|d| d.spec.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:<width$}  {:<10}  {:<22}  {:>5}  {:>6}  title",
        "id", "language", "services", "tests", "decoys"
    );
    for dp in &datapoints {
        let services = dp
            .spec
            .services
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let tests = weights
            .as_ref()
            .and_then(|w| w.get(&dp.spec.id))
            .map(|w| w.tests().count().to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<width$}  {:<10}  {:<22}  {:>5}  {:>6}  {}",
            dp.spec.id,
            dp.spec.language,
            if services.is_empty() {
                "-".into()
            } else {
                services
            },
            tests,
            dp.spec.decoys.len(),
            dp.spec.title
        );
    }
    Ok(exit_code::SUCCESS)
}
