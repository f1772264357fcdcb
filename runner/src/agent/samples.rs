//! Every sample of every agent on every datapoint, `jobs` sandboxes at a
//! time. A sample whose `agent.json` is already in the results folder is
//! skipped (`--resume`); an interrupted one is not written, so it runs again.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use racebench_model::{AgentEnd, AgentRecord};
use tokio_util::sync::CancellationToken;

use super::sample::{run_sample, SampleHost, SampleOutcome, SamplePlan};

/// A sample's record file, in its folder.
pub const RECORD_FILE: &str = "agent.json";

/// Reads a finished sample (its record and diff) from its folder, if it finished.
pub fn finished_sample(plan: &SamplePlan) -> Option<SampleOutcome> {
    let text = std::fs::read_to_string(plan.dir.join(RECORD_FILE)).ok()?;
    let record: AgentRecord = serde_json::from_str(&text).ok()?;
    let diff = std::fs::read_to_string(plan.dir.join("fix.diff")).unwrap_or_default();
    Some(SampleOutcome { record, diff })
}

/// Runs the samples not finished before; `on_done` sees each as it ends
/// (resumed ones first, flagged `true`). Returns every outcome, in plan order.
pub async fn run_samples(
    host: &SampleHost,
    plans: Vec<SamplePlan>,
    jobs: usize,
    kill: &CancellationToken,
    on_done: &(dyn Fn(&SampleOutcome, bool) + Sync),
) -> Vec<SampleOutcome> {
    let mut done: Vec<Option<SampleOutcome>> = Vec::new();
    let mut todo = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        match finished_sample(plan) {
            Some(outcome) => {
                on_done(&outcome, true);
                done.push(Some(outcome));
            }
            None => {
                done.push(None);
                todo.push(i);
            }
        }
    }
    let plans = Arc::new(plans);
    let mut finished = stream::iter(todo.into_iter().map(|i| {
        let plans = plans.clone();
        async move {
            let outcome = if kill.is_cancelled() {
                None
            } else {
                Some(run_sample(host, &plans[i], kill).await)
            };
            (i, outcome)
        }
    }))
    .buffer_unordered(jobs.max(1));
    while let Some((i, outcome)) = finished.next().await {
        let Some(outcome) = outcome else { continue };
        if outcome.record.end != AgentEnd::Cancelled {
            let path = plans[i].dir.join(RECORD_FILE);
            let json = serde_json::to_string_pretty(&outcome.record).expect("records serialize");
            if let Err(e) = crate::results::write_atomic(&path, json.as_bytes()) {
                tracing::warn!("failed to write {}: {e}", path.display());
            }
        }
        on_done(&outcome, false);
        done[i] = Some(outcome);
    }
    done.into_iter().flatten().collect()
}
