//! `racebench timeline`: what a trial's service recorded, in time order, with
//! the check that passed and the act that failed marked.

use racebench_grader::timeline::{self, choose_trial, load_trial_events};

use crate::args::{TimelineArgs, TimelineFormat};
use crate::exit_code;
use crate::output;

pub fn timeline(args: TimelineArgs) -> anyhow::Result<i32> {
    let run = racebench_grader::load_run(&args.run_dir)?;
    let Some(chosen) = choose_trial(
        &run,
        args.datapoint.as_deref(),
        args.candidate.as_deref(),
        args.trial,
    ) else {
        anyhow::bail!(
            "no trial in {} recorded timeline events{}; datapoints record them when their `events` key is set",
            args.run_dir.display(),
            match (&args.datapoint, &args.candidate, args.trial) {
                (None, None, None) => String::new(),
                _ => " for the datapoint, candidate and trial given".to_string(),
            }
        );
    };
    let mut events = load_trial_events(&run, &chosen.datapoint, &chosen.candidate, chosen.trial)?
        .expect("the chosen trial has events");
    if !args.flow.is_empty() {
        let mut flows: Vec<String> = events.events.iter().map(|e| e.flow.clone()).collect();
        flows.sort();
        flows.dedup();
        events
            .events
            .retain(|e| args.flow.iter().any(|f| e.flow.contains(f.as_str())));
        if events.events.is_empty() {
            anyhow::bail!(
                "no flow of trial {} matches {}; its flows are: {}",
                chosen.trial,
                args.flow.join(", "),
                flows.join(", ")
            );
        }
    }
    for (line, why) in &events.skipped {
        output::warning(format!("{}:{line}: skipped: {why}", events.path.display()));
    }
    let timeline = events.timeline();
    match args.format {
        TimelineFormat::Text => {
            println!(
                "{} {} trial {}",
                chosen.datapoint, chosen.candidate, chosen.trial
            );
            print!("{}", timeline::render_text(&timeline));
        }
        TimelineFormat::Json => println!("{}", timeline::to_json(&timeline)),
        TimelineFormat::Svg => print!("{}", timeline::render_svg(&timeline)),
    }
    Ok(exit_code::SUCCESS)
}
