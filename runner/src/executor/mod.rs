//! Where a run's pods run: the local engine, or a Docker swarm. The scheduler
//! (`run.rs`) hands each trial to its executor and gets a record back;
//! nothing above this module knows which executor it is.

mod local;
mod swarm;
mod swarm_sandbox;

use racebench_model::TrialRecord;
use tokio_util::sync::CancellationToken;

pub use local::Local;
pub use swarm::{Swarm, SwarmImages};
pub use swarm_sandbox::{SandboxFailure, SwarmSandboxRun, SwarmSandboxSpec};

use crate::trial::{PreparedPod, TrialPlan};

/// Runs trials somewhere. Cheap to clone.
#[derive(Clone)]
pub enum Executor {
    Local(Local),
    Swarm(Swarm),
}

impl Executor {
    /// Runs one trial to its record; `prepared` is a pod the local executor
    /// started ahead (see [`Executor::prepares_ahead`]).
    pub async fn run_trial(
        &self,
        plan: &TrialPlan,
        prepared: Option<PreparedPod>,
        kill: &CancellationToken,
    ) -> TrialRecord {
        match self {
            Executor::Local(local) => local.run_trial(plan, prepared, kill).await,
            Executor::Swarm(swarm) => {
                if let Some(prepared) = prepared {
                    prepared.discard().await;
                }
                swarm.run_trial(plan, kill).await
            }
        }
    }

    /// The local engine, when pods of the next trials are to be started
    /// while earlier trials run. A swarm places pods itself when a trial
    /// starts: starting one ahead would hold a node's room for it.
    pub fn prepares_ahead(&self) -> Option<&Local> {
        match self {
            Executor::Local(local) => Some(local),
            Executor::Swarm(_) => None,
        }
    }

    /// `local` or `swarm`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Executor::Local(_) => "local",
            Executor::Swarm(_) => "swarm",
        }
    }
}
