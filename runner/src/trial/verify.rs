//! Verifying: the hidden tests copied in only now, after the patch and the
//! build, then the datapoint's test step.

use std::time::{Duration, Instant};

use racebench_model::TrialRecord;
use tokio_util::sync::CancellationToken;

use super::exec::{Bounded, Stop};
use super::steps::{ms, Trial, OUT_DIR, TESTS_DIR};

/// How the test step ended.
pub(super) enum Tested {
    Exited,
    TimedOut(Duration),
}

impl Trial<'_> {
    pub(super) async fn verify(
        &self,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<Tested, Stop> {
        let spec = &self.plan.datapoint.spec;
        let t = Instant::now();
        self.engine
            .put_archive(self.main_id(), "/", self.plan.hidden_tests.to_vec())
            .await
            .map_err(Stop::infra)?;
        let prepare = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("rm -rf {OUT_DIR} && mkdir -p {OUT_DIR} {TESTS_DIR}"),
        ];
        match self
            .bounded(&prepare, &[], None, Duration::from_secs(60), kill)
            .await?
        {
            Bounded::Done(out) if out.exit_code == Some(0) => {}
            _ => {
                return Err(Stop::infra(format!(
                    "failed to prepare {OUT_DIR} in the container"
                )))
            }
        }
        let limit = Duration::from_secs(spec.test.timeout_secs);
        let tested = self
            .bounded(&spec.test.command, &self.env, Some(TESTS_DIR), limit, kill)
            .await?;
        record.timings.test_ms = ms(t.elapsed());
        match tested {
            Bounded::Done(out) => {
                record.exit_code = Some(out.exit_code.unwrap_or(-1));
                self.write_file(record, "test_stdout", "test.stdout.log", &out.stdout)?;
                self.write_file(record, "test_stderr", "test.stderr.log", &out.stderr)?;
                Ok(Tested::Exited)
            }
            Bounded::TimedOut(limit) => Ok(Tested::TimedOut(limit)),
        }
    }
}
