//! The datapoint's build step, with the candidate's code, as the candidate
//! and with no network beyond the pod.

use std::time::{Duration, Instant};

use racebench_model::{TrialRecord, Verdict};
use tokio_util::sync::CancellationToken;

use super::contain::as_candidate;
use super::exec::{exit_text, Bounded, Stop};
use super::steps::{ms, Trial};

impl Trial<'_> {
    pub(super) async fn build(
        &self,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let spec = &self.plan.datapoint.spec;
        let Some(build) = &spec.build else {
            return Ok(());
        };
        let t = Instant::now();
        let limit = Duration::from_secs(build.timeout_secs);
        let result = self
            .bounded(
                &as_candidate(&build.command),
                &self.env,
                Some(&spec.workspace.path),
                limit,
                kill,
            )
            .await?;
        record.timings.build_ms = ms(t.elapsed());
        match result {
            Bounded::Done(out) => {
                self.write_log(record, "build", "build.log", &out)?;
                built(out.exit_code)
            }
            Bounded::TimedOut(limit) => Err(build_timed_out(limit)),
        }
    }
}

/// What the build step's exit means (shared with the trial entrypoint).
pub(super) fn built(exit_code: Option<i64>) -> Result<(), Stop> {
    if exit_code == Some(0) {
        return Ok(());
    }
    Err(Stop::new(
        Verdict::BuildFailed,
        format!(
            "the build step exited with {} (see build.log)",
            exit_text(exit_code)
        ),
    ))
}

pub(super) fn build_timed_out(limit: Duration) -> Stop {
    Stop::new(
        Verdict::BuildFailed,
        format!("the build step ran past its {}s limit", limit.as_secs()),
    )
}
