//! A job's output, read back through the manager (`service logs`), which is
//! how a trial on another node hands its results back. Capped per stream.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::error::ClusterError;
use super::job::Job;
use super::manager::Manager;

/// What a job wrote, up to a cap per stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLogs {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Whether either stream went past the cap (the rest was dropped).
    pub truncated: bool,
}

impl Manager {
    /// Everything the job's task has written so far, each stream up to `cap` bytes.
    pub async fn job_logs(&self, job: &Job, cap: usize) -> Result<JobLogs, ClusterError> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(false)
            .build();
        let mut stream = self.docker().service_logs(&job.id, Some(options));
        let mut logs = JobLogs::default();
        while let Some(item) = stream.next().await {
            let item =
                item.map_err(|e| ClusterError::op(format!("read the logs of {}", job.name), e))?;
            let (into, bytes) = match item {
                LogOutput::StdErr { message } => (&mut logs.stderr, message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    (&mut logs.stdout, message)
                }
                LogOutput::StdIn { .. } => continue,
            };
            let room = cap.saturating_sub(into.len());
            if bytes.len() > room {
                logs.truncated = true;
            }
            into.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        Ok(logs)
    }
}
