//! How a step runs a command in the main container: bounded by a wall-clock
//! limit and by the run's kill switch, and how its output becomes a log file
//! of the trial.

use std::time::Duration;

use racebench_model::{TrialRecord, Verdict};
use tokio_util::sync::CancellationToken;

use super::steps::Trial;
use crate::engine::ExecOutput;

/// Why the steps stopped early: the verdict and what to tell the user.
pub(super) struct Stop {
    pub verdict: Verdict,
    pub error: String,
}

impl Stop {
    pub fn infra(error: impl std::fmt::Display) -> Stop {
        Stop {
            verdict: Verdict::InfraError,
            error: error.to_string(),
        }
    }

    pub fn new(verdict: Verdict, error: impl Into<String>) -> Stop {
        Stop {
            verdict,
            error: error.into(),
        }
    }

    pub fn cancelled() -> Stop {
        Stop::new(Verdict::Cancelled, "the run was interrupted")
    }
}

/// What a bounded exec came to.
pub(super) enum Bounded {
    Done(ExecOutput),
    TimedOut(Duration),
}

impl Trial<'_> {
    /// Runs a command in the main container with a wall-clock limit; `kill`
    /// ends the trial.
    pub(super) async fn bounded(
        &self,
        cmd: &[String],
        env: &[(String, String)],
        workdir: Option<&str>,
        limit: Duration,
        kill: &CancellationToken,
    ) -> Result<Bounded, Stop> {
        let id = self.main_id();
        tokio::select! {
            out = self.engine.exec(id, cmd, env, workdir) => out.map(Bounded::Done).map_err(Stop::infra),
            _ = tokio::time::sleep(limit) => Ok(Bounded::TimedOut(limit)),
            _ = kill.cancelled() => Err(Stop::cancelled()),
        }
    }

    /// Writes stdout and stderr of a step into one log file.
    pub(super) fn write_log(
        &self,
        record: &mut TrialRecord,
        name: &str,
        file: &str,
        out: &ExecOutput,
    ) -> Result<(), Stop> {
        // Each stream marks where it dropped bytes (see `Engine::exec`).
        let mut text = out.stdout.clone();
        text.extend_from_slice(&out.stderr);
        self.write_file(record, name, file, &text)
    }

    pub(super) fn write_file(
        &self,
        record: &mut TrialRecord,
        name: &str,
        file: &str,
        data: &[u8],
    ) -> Result<(), Stop> {
        write_log_file(&self.logs_dir, &self.logs_rel, record, name, file, data)
    }
}

/// Writes one log file of a trial into its log folder and names it in the record.
pub(super) fn write_log_file(
    logs_dir: &std::path::Path,
    logs_rel: &str,
    record: &mut TrialRecord,
    name: &str,
    file: &str,
    data: &[u8],
) -> Result<(), Stop> {
    std::fs::write(logs_dir.join(file), data)
        .map_err(|e| Stop::infra(format!("failed to write {file}: {e}")))?;
    record
        .logs
        .insert(name.into(), format!("{logs_rel}/{file}"));
    Ok(())
}

pub(super) fn exit_text(code: Option<i64>) -> String {
    code.map(|c| c.to_string())
        .unwrap_or_else(|| "an unknown status".into())
}
