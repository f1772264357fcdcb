//! Verifying: the hidden tests copied in only now, after the patch, the
//! build and the candidate's processes are gone, then the datapoint's test
//! step, as root, from a folder the candidate cannot read, with the report
//! written where the candidate cannot write.

use std::time::{Duration, Instant};

use racebench_model::TrialRecord;
use tokio_util::sync::CancellationToken;

use super::contain::{AS_CANDIDATE, CANDIDATE_UID};
use super::exec::{Bounded, Stop};
use super::steps::{ms, Trial, OUT_DIR, TESTS_DIR};
use racebench_model::REPORT_DIR;

/// Variables that make a program load code from elsewhere than its own
/// installation; the image may set them for the service, but the test step
/// (root) must not load code from folders the candidate can write. The tests
/// pass what the service needs to it explicitly.
const LOADER_VARIABLES: [&str; 12] = [
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5LIB",
    "RUBYLIB",
];

/// The test command, run without the loader variables and with Python's
/// user site off.
pub(super) fn verifier_command(cmd: &[String]) -> Vec<String> {
    let mut wrapped = vec!["env".to_string()];
    for var in LOADER_VARIABLES {
        wrapped.push("-u".into());
        wrapped.push(var.into());
    }
    wrapped.push("PYTHONNOUSERSITE=1".into());
    wrapped.push("PYTHONDONTWRITEBYTECODE=1".into());
    wrapped.extend(cmd.iter().cloned());
    wrapped
}

/// How long preparing the test step's folders may take.
pub(super) const PREPARE_TIMEOUT: Duration = Duration::from_secs(60);

/// Run as root once the hidden tests are in: a fresh out folder for the
/// candidate, the report folder and the tests closed to it (the hidden
/// tests' archive may carry modes).
pub(super) fn prepare_script() -> String {
    format!(
        "set -e; rm -rf {OUT_DIR} {REPORT_DIR} && mkdir -p {OUT_DIR} {REPORT_DIR} {TESTS_DIR} \
         && chown {CANDIDATE_UID}:{CANDIDATE_UID} {OUT_DIR} && chown -R 0:0 {REPORT_DIR} {TESTS_DIR} \
         && chmod 0700 {REPORT_DIR} && chmod -R go-rwx {TESTS_DIR} && chmod 0711 {TESTS_DIR}"
    )
}

pub(super) fn prepare_failed() -> Stop {
    Stop::infra(format!("failed to prepare {OUT_DIR} in the container"))
}

/// What the test step gets on top of the trial's environment.
pub(super) fn verifier_env() -> [(String, String); 2] {
    [
        ("RACEBENCH_AS_CANDIDATE".into(), AS_CANDIDATE.into()),
        ("RACEBENCH_REPORT_DIR".into(), REPORT_DIR.into()),
    ]
}

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
        // A fresh out folder for the candidate, the report folder and the
        // tests closed to it (the hidden tests' archive may carry modes).
        let prepare = vec!["sh".to_string(), "-c".to_string(), prepare_script()];
        match self
            .bounded(&prepare, &[], None, PREPARE_TIMEOUT, kill)
            .await?
        {
            Bounded::Done(out) if out.exit_code == Some(0) => {}
            _ => return Err(prepare_failed()),
        }
        let limit = Duration::from_secs(spec.test.timeout_secs);
        let mut env = self.env.clone();
        env.extend(verifier_env());
        let tested = self
            .bounded(
                &verifier_command(&spec.test.command),
                &env,
                Some(TESTS_DIR),
                limit,
                kill,
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_command_loads_no_code_from_the_environment() {
        let cmd = verifier_command(&["pytest".into(), "-q".into()]);
        assert_eq!(cmd[0], "env");
        assert!(cmd.windows(2).any(|w| w == ["-u", "PYTHONPATH"]));
        assert!(cmd.windows(2).any(|w| w == ["-u", "LD_PRELOAD"]));
        assert!(cmd.contains(&"PYTHONNOUSERSITE=1".to_string()));
        assert_eq!(
            &cmd[cmd.len() - 3..],
            ["PYTHONDONTWRITEBYTECODE=1", "pytest", "-q"]
        );
    }
}
