//! The trial as a whole: its record, its steps in order, and the removal of
//! its pod on every path.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use racebench_model::{PatchReport, RunLayout, TrialRecord, Verdict};
use tokio_util::sync::CancellationToken;

use super::exec::Stop;
use super::plan::{TrialKey, TrialPlan};
use super::provision::{Lease, Provision};
use super::setup::PreparedPod;
use crate::engine::Engine;
use crate::patch;
use crate::pod::Pod;

/// Where trial files live inside the main container.
pub(super) const PATCH_PATH: &str = "/racebench/patch.diff";
pub(super) const TESTS_DIR: &str = "/racebench/tests";
pub(super) const OUT_DIR: &str = "/racebench/out";

/// A trial in progress: what it runs in and where its logs go.
pub(super) struct Trial<'a> {
    pub engine: &'a Engine,
    pub plan: &'a TrialPlan,
    pub logs_rel: String,
    pub logs_dir: PathBuf,
    pub pod: Option<Pod>,
    pub lease: Option<Box<dyn Lease>>,
    /// The main container's environment (contract, services).
    pub env: Vec<(String, String)>,
}

impl Trial<'_> {
    pub fn main_id(&self) -> &str {
        self.pod.as_ref().map(Pod::main_id).unwrap_or_default()
    }

    /// The steps in order; the first that stops the trial ends it.
    async fn steps(
        &mut self,
        external: Option<&dyn Provision>,
        prepared: Option<PreparedPod>,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let early = match std::fs::create_dir_all(&self.logs_dir) {
            Err(e) => Some(Stop::infra(format!(
                "failed to create the log folder {}: {e}",
                self.logs_dir.display()
            ))),
            Ok(()) if kill.is_cancelled() => Some(Stop::cancelled()),
            Ok(()) => None,
        };
        if let Some(stop) = early {
            // A pod prepared ahead for this trial goes with it.
            if let Some(prepared) = prepared {
                prepared.discard().await;
            }
            return Err(stop);
        }
        self.setup(external, prepared, record, kill).await?;
        self.contain(kill).await?;
        self.apply(record, kill).await?;
        self.build(record, kill).await?;
        // Nothing the build started runs beside the tests,
        if let Some(note) = self.stop_candidate(kill).await? {
            record
                .inconsistencies
                .push(format!("after the build: {note}"));
        }
        let tested = self.verify(record, kill).await?;
        // nor writes the outputs while they are copied out.
        if let Some(note) = self.stop_candidate(kill).await? {
            record
                .inconsistencies
                .push(format!("after the tests: {note}"));
        }
        self.collect(record, tested).await
    }

    /// Removes the pod and releases external resources; every step is tried.
    async fn teardown(&mut self) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Some(mut pod) = self.pod.take() {
            pod.keep(self.plan.keep);
            if let Err(e) = pod.remove().await {
                errors.push(e.to_string());
            }
        }
        if let Some(lease) = self.lease.take() {
            if let Err(e) = lease.release().await {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Runs one trial to a record, in `prepared` if its pod was prepared ahead.
/// `kill` ends it at once (second Ctrl-C, or the grace period after the first
/// one ran out); the pod is removed anyway.
pub async fn run_trial(
    engine: &Engine,
    external: Option<&dyn Provision>,
    plan: &TrialPlan,
    prepared: Option<PreparedPod>,
    kill: &CancellationToken,
) -> TrialRecord {
    let begin = Instant::now();
    let spec = &plan.datapoint.spec;
    let mut record = begin_record(plan);
    let logs_rel = RunLayout::logs_rel(&spec.id, &plan.candidate.id, plan.trial);
    let mut trial = Trial {
        engine,
        plan,
        logs_dir: plan.layout.path(&logs_rel),
        logs_rel,
        pod: None,
        lease: None,
        env: Vec::new(),
    };
    match trial.steps(external, prepared, &mut record, kill).await {
        Ok(()) => record.verdict = Verdict::Tested,
        Err(stop) => {
            record.verdict = stop.verdict;
            record.error = Some(stop.error);
        }
    }
    let removal = Instant::now();
    if let Err(e) = trial.teardown().await {
        tracing::warn!(trial = %plan.key(), "cleanup failed: {e}");
        let note = format!("cleanup failed: {e}");
        record.error = Some(match record.error.take() {
            Some(prev) => format!("{prev}; {note}"),
            None => note,
        });
    }
    record.earlier_attempts = plan.earlier_attempts.clone();
    record.timings.remove_ms = ms(removal.elapsed());
    record.timings.total_ms = ms(begin.elapsed());
    record.finished_at = jiff::Timestamp::now().to_string();
    record
}

/// A trial's record before its steps: who, when, and what the patch touches.
pub(crate) fn begin_record(plan: &TrialPlan) -> TrialRecord {
    let spec = &plan.datapoint.spec;
    let patch_report = plan
        .patch
        .as_deref()
        .map(|p| patch::inspect(p, &spec.workspace.protected))
        .unwrap_or_else(PatchReport::none);
    TrialRecord::begin(
        &plan.run_id,
        &spec.id,
        &plan.candidate.id,
        plan.trial,
        patch_report,
        jiff::Timestamp::now().to_string(),
    )
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A pod name that says what it is and is unique per attempt:
/// `rb-<run>-<datapoint>-<candidate>-<n>-<nonce>`, so a resumed run never
/// collides with what a killed one left.
pub(super) fn pod_name(key: &TrialKey) -> String {
    let nonce = &crate::pod::secret()[..6];
    let mut name = format!(
        "rb-{}-{}-{}-{}",
        key.run_id, key.datapoint, key.candidate, key.trial
    );
    name.retain(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let tail = format!("-{}-{nonce}", key.trial);
    // Room for the service suffix (`-postgres`).
    if name.len() + 7 > 100 {
        name.truncate(100 - tail.len());
        name.push_str(&tail);
    } else {
        name.push_str(&format!("-{nonce}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_docker_safe_bounded_and_fresh() {
        let key = TrialKey {
            run_id: "20261123-1200-ab12".into(),
            datapoint: "kafka-inventory-consumer".into(),
            candidate: "openai/gpt:5".repeat(20),
            trial: 7,
        };
        let name = pod_name(&key);
        assert!(name.len() <= 100, "{name}");
        assert!(name.contains("-7-"));
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_ne!(
            pod_name(&key),
            pod_name(&key),
            "each attempt gets a name of its own"
        );
    }
}
