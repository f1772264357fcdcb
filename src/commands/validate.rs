//! `racebench validate`: for each datapoint, the reference must pass every
//! weighted test in every trial, the unpatched service must be caught in every
//! trial, and every decoy must fail each category it declares. Exit code 1
//! names a regression, 5 an inconclusive run (infrastructure errors).

use racebench_grader::validation::{self, replace_rates, RatesTable, ValidationStatus};

use crate::args::ValidateArgs;
use crate::commands::grade::summarize_run;
use crate::commands::launch::{builtin_candidates, launch, Selection};
use crate::commands::Context;
use crate::exit_code;
use crate::output;

pub async fn validate(ctx: &Context, args: ValidateArgs) -> anyhow::Result<i32> {
    let weights = ctx.weights()?;
    let datapoints = ctx.select(&args.ids)?;
    for dp in &datapoints {
        weights.require(&dp.spec.id)?;
        if dp.spec.workspace.protected.is_empty() {
            anyhow::bail!(
                "datapoint {} declares no protected paths: list in `[workspace] protected` \
                 (in {}) the files a fix must not change, such as build manifests, the schema \
                 and files the tests load; a patch that changes one scores 0",
                dp.spec.id,
                dp.dir.join("datapoint.toml").display()
            );
        }
    }
    let selections = datapoints
        .iter()
        .map(|dp| {
            Ok(Selection {
                datapoint: dp.clone(),
                candidates: builtin_candidates(dp, true, true, true)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let launched = launch(selections, &weights, &args.options, None).await?;
    if launched.outcome.status == racebench_model::RunStatus::Cancelled {
        output::status(format!(
            "validation interrupted; finish it with: racebench run --resume {}",
            launched.layout.root().display()
        ));
        return Ok(exit_code::INTERRUPTED);
    }
    let summary = summarize_run(launched.layout.root(), &weights)?;
    let report = validation::validate(&summary);
    println!();
    print!("{}", validation::render_text(&report));
    if args.write_rates {
        for dp in &datapoints {
            let Some(summary_dp) = summary.datapoint(&dp.spec.id) else {
                continue;
            };
            let table = RatesTable::of(summary_dp).to_markdown();
            let command = format!(
                "_Measured by `racebench validate {} --trials {}` on {} (run {})._\n\n",
                dp.spec.id,
                args.options.trials,
                summary_dp_date(&summary),
                summary.run_id
            );
            let readme_path = dp.dir.join("README.md");
            let readme = std::fs::read_to_string(&readme_path).unwrap_or_default();
            let updated = replace_rates(&readme, &(command + &table))?;
            racebench_runner::results::write_atomic(&readme_path, updated.as_bytes())?;
            output::status(format!("rates written to {}", readme_path.display()));
        }
    }
    Ok(match report.status() {
        ValidationStatus::Ok => exit_code::SUCCESS,
        ValidationStatus::Regressed => exit_code::REGRESSED,
        ValidationStatus::Inconclusive => exit_code::INCONCLUSIVE,
    })
}

fn summary_dp_date(summary: &racebench_grader::Summary) -> String {
    summary
        .created_at
        .get(..10)
        .unwrap_or(&summary.created_at)
        .to_string()
}
