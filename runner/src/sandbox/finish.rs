//! Ending an agent's turn: every process of the agent stopped first (the
//! main container is killed, which ends every process in it), then the work
//! tree, the agent's outputs folder and the service's events file copied out
//! of the stopped container through the archive API, and the tree diffed
//! against racebench's pristine copy on the host. Nothing of the agent's runs
//! after it was stopped.

use bollard::query_parameters::KillContainerOptionsBuilder;

use super::diff::{diff_trees, TreeDiff};
use super::error::SandboxError;
use super::spec::AGENT_OUT;
use super::start::Sandbox;
use crate::engine::{short, Engine, EngineError};

/// Cap on the agent's outputs folder copied out.
pub const OUTPUTS_LIMIT: usize = 64 * 1024 * 1024;
/// Cap on the sandbox's events file copied out (as a tar, so a little less).
pub const EVENTS_LIMIT: usize = 16 * 1024 * 1024;

/// What an agent left.
#[derive(Debug, Default)]
pub struct Finished {
    pub diff: TreeDiff,
    /// Tar of the outputs folder (rooted at `agent-out/`), and whether it was cut at the cap.
    pub outputs: Option<(Vec<u8>, bool)>,
    /// Tar of the datapoint's events file as the service left it (one entry,
    /// the file's name), and whether it was cut at [`EVENTS_LIMIT`]; none
    /// when the datapoint declares no events or nothing wrote them.
    pub events: Option<(Vec<u8>, bool)>,
}

impl Engine {
    /// Sends SIGKILL to a container: every process in it ends at once.
    pub async fn kill_container(&self, id: &str) -> Result<(), EngineError> {
        let options = KillContainerOptionsBuilder::new().signal("KILL").build();
        match self.docker.kill_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 409: not running (already stopped).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("kill container {}", short(id)), e)),
        }
    }
}

impl Sandbox {
    /// Stops every process in the sandbox's main container and takes the
    /// diff and the outputs. The pod stays until [`Sandbox::remove`].
    pub async fn stop_and_take(&self) -> Result<Finished, SandboxError> {
        self.engine
            .kill_container(self.main_id())
            .await
            .map_err(|source| self.engine_err("stop the agent", source))?;
        let after = self.copy_tree().await?;
        let outputs = self
            .engine
            .get_archive(self.main_id(), AGENT_OUT, OUTPUTS_LIMIT)
            .await
            .map_err(|source| self.engine_err("copy the agent's outputs out", source))?;
        let events = match &self.events {
            Some(path) => self
                .engine
                .get_archive(self.main_id(), path, EVENTS_LIMIT)
                .await
                .map_err(|source| self.engine_err("copy the events file out", source))?,
            None => None,
        };
        Ok(Finished {
            diff: diff_trees(&self.pristine, &after),
            outputs,
            events,
        })
    }
}
