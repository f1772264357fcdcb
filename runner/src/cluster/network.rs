//! A pod's network on a swarm: an overlay of its own, internal (no gateway,
//! no route off it), not attachable, so only the pod's own tasks are on it.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;

use super::error::ClusterError;
use super::manager::Manager;

/// A created pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    pub id: String,
    pub name: String,
}

impl Manager {
    /// Creates the pod's internal overlay network, labelled.
    pub async fn create_pod_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<PodNetwork, ClusterError> {
        self.create_overlay(name, labels, true).await
    }

    /// Creates a pod's overlay network, labelled: `internal`, no route off
    /// it; otherwise its tasks also get the node's gateway bridge
    /// (`docker_gwbridge`) and through it a route off the node (an agent's
    /// sandbox with `--agent-network egress`).
    pub async fn create_overlay(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
        internal: bool,
    ) -> Result<PodNetwork, ClusterError> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("overlay".into()),
            scope: Some("swarm".into()),
            internal: Some(internal),
            attachable: Some(false),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        let created = self
            .docker()
            .create_network(request)
            .await
            .map_err(|e| ClusterError::op(format!("create overlay network {name}"), e))?;
        Ok(PodNetwork {
            id: created.id,
            name: name.to_string(),
        })
    }

    /// Removes a network. Gone already is fine; still in use is an error
    /// (`ClusterError::is_in_use`) the caller may retry once tasks are gone.
    pub async fn remove_network(&self, id: &str) -> Result<(), ClusterError> {
        match self.docker().remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = ClusterError::op(format!("remove network {id}"), e);
                if err.is_not_found() {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}
