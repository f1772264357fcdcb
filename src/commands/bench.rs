//! `racebench bench`: measures racebench's own per-trial overhead — from
//! creating the trial's pod (network, main container, services) to its record
//! being written, minus the datapoint's build and test steps — over
//! sequential trials of the reference fix, and prints medians per phase.

use racebench_model::{TrialRecord, Verdict};

use crate::args::{BenchArgs, TrialOptions};
use crate::commands::launch::{builtin_candidates, launch, Selection};
use crate::commands::Context;
use crate::exit_code;

pub async fn bench(ctx: &Context, args: BenchArgs) -> anyhow::Result<i32> {
    let datapoint = ctx.select(std::slice::from_ref(&args.datapoint))?.remove(0);
    let candidates = builtin_candidates(&datapoint, true, false, false)?;
    let weights = ctx.weights().unwrap_or_default();
    let options = TrialOptions {
        trials: args.trials,
        jobs: 1,
        results: args.results.clone(),
        keep: false,
        grace: 5,
        retries: 0,
        cluster: crate::args::ClusterKind::Local,
        swarm: Default::default(),
    };
    let launched = launch(
        vec![Selection {
            datapoint,
            candidates,
        }],
        &weights,
        &options,
        None,
    )
    .await?;
    let records: Vec<&TrialRecord> = launched
        .outcome
        .records
        .iter()
        .filter(|r| r.verdict == Verdict::Tested)
        .collect();
    if records.is_empty() {
        anyhow::bail!(
            "no trial completed; see {}",
            launched.layout.root().display()
        );
    }
    println!("{}", render(&records));
    Ok(exit_code::SUCCESS)
}

/// A table of the median (and min/max) of each phase, in milliseconds.
pub fn render(records: &[&TrialRecord]) -> String {
    type Phase = (&'static str, fn(&TrialRecord) -> u64);
    let phases: [Phase; 10] = [
        ("pod start (network, containers)", |r| r.timings.pod_ms),
        ("readiness (services' probes)", |r| r.timings.ready_ms),
        ("waited for the pod (on the path)", |r| {
            r.timings.pod_waited_ms
        }),
        ("patch", |r| r.timings.patch_ms),
        ("build (datapoint's own)", |r| r.timings.build_ms),
        ("tests (datapoint's own)", |r| r.timings.test_ms),
        ("collect", |r| r.timings.collect_ms),
        ("removal", |r| r.timings.remove_ms),
        ("total", |r| r.timings.total_ms),
        ("overhead = total - build - tests", |r| {
            r.timings.overhead_ms()
        }),
    ];
    let mut out = format!(
        "{} trials\n{:<34} {:>8} {:>8} {:>8}\n",
        records.len(),
        "phase (ms)",
        "median",
        "min",
        "max"
    );
    for (name, get) in phases {
        let mut values: Vec<u64> = records.iter().map(|r| get(r)).collect();
        values.sort_unstable();
        out.push_str(&format!(
            "{name:<34} {:>8} {:>8} {:>8}\n",
            median(&values),
            values[0],
            values[values.len() - 1]
        ));
    }
    out
}

fn median(sorted: &[u64]) -> u64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[1, 2, 9]), 2);
        assert_eq!(median(&[1, 2, 4, 9]), 3);
    }
}
