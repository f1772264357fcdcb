//! `racebench calibrate`: how reliably each test catches the bug (fails on the
//! unpatched service) and how often it wrongly fails the reference fix, with
//! Wilson intervals. For authors tuning a datapoint's race windows.

use racebench_grader::calibration;

use crate::args::CalibrateArgs;
use crate::commands::grade::load_and_grade;
use crate::commands::launch::{builtin_candidates, launch, Selection};
use crate::commands::Context;
use crate::exit_code;

pub async fn calibrate(ctx: &Context, args: CalibrateArgs) -> anyhow::Result<i32> {
    let weights = ctx.weights()?;
    let selections = ctx
        .select(&args.ids)?
        .into_iter()
        .map(|dp| {
            let candidates = builtin_candidates(&dp, true, true, false)?;
            Ok(Selection {
                datapoint: dp,
                candidates,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let launched = launch(selections, &weights, &args.options, None).await?;
    let summary = load_and_grade(launched.layout.root(), &weights)?;
    for calibration in calibration::calibrate(&summary) {
        println!("{}", calibration.to_markdown());
    }
    Ok(match launched.outcome.status {
        racebench_model::RunStatus::Cancelled => exit_code::INTERRUPTED,
        _ => exit_code::SUCCESS,
    })
}
