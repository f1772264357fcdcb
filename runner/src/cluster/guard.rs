//! Everything of one pod on a swarm (its services, network, secrets and
//! configs) under one guard, found by the pod's label: `remove().await` is the
//! normal path; a guard dropped without it (a panic, an early return) removes
//! them from a helper thread with its own connection to the manager.

use std::time::Duration;

use super::cleanup::Removed;
use super::error::ClusterError;
use super::manager::Manager;
use crate::guard::run_detached;

/// How long removal waits for tasks to let go of networks, secrets and configs.
const SETTLE: Duration = Duration::from_secs(30);

/// The objects carrying one label (`key=value`), removed together.
#[derive(Debug)]
pub struct LabelGuard {
    manager: Manager,
    label: String,
    keep: bool,
    done: bool,
}

impl LabelGuard {
    /// Guards whatever carries `label`; make the guard before the first object.
    pub fn new(manager: &Manager, label: impl Into<String>) -> LabelGuard {
        LabelGuard {
            manager: manager.clone(),
            label: label.into(),
            keep: false,
            done: false,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Leave the objects in place for debugging (`--keep`).
    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Removes everything carrying the label, unless asked to keep it.
    pub async fn remove(mut self) -> Result<Removed, ClusterError> {
        self.done = true;
        if self.keep {
            return Ok(Removed::default());
        }
        self.manager.remove_labelled(&self.label, SETTLE).await
    }
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        if self.done || self.keep {
            return;
        }
        let host = self.manager.host().to_string();
        let label = self.label.clone();
        // Its own connection, on a thread with its own runtime, so this works
        // from Drop inside or outside a runtime; waited for, within a bound.
        run_detached(
            "cluster cleanup",
            SETTLE + Duration::from_secs(10),
            async move {
                let removed = match Manager::connect(&host).await {
                    Ok(manager) => manager.remove_labelled(&label, SETTLE).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = removed {
                    tracing::warn!(%label, "cluster cleanup after an interrupted pod failed: {e}");
                }
            },
        );
    }
}
