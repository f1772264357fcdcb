//! Removal by label: every swarm service, network, secret and config carrying
//! a label, in the order the swarm allows (services, then, once their tasks
//! are gone, the networks, secrets and configs they used).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListNetworksOptionsBuilder, ListSecretsOptionsBuilder,
    ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};

use super::error::ClusterError;
use super::manager::Manager;

/// How many objects a removal took away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub services: usize,
    pub networks: usize,
    pub secrets: usize,
    pub configs: usize,
}

/// What still carries a label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub services: Vec<String>,
    pub tasks: Vec<String>,
    pub networks: Vec<String>,
    pub secrets: Vec<String>,
    pub configs: Vec<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.tasks.is_empty()
            && self.networks.is_empty()
            && self.secrets.is_empty()
            && self.configs.is_empty()
    }
}

impl Manager {
    /// Names of what carries `label` (`key` or `key=value`). Tasks count while
    /// the manager still lists them for a removed service of that label's.
    pub async fn leftovers(&self, label: &str) -> Result<Leftovers, ClusterError> {
        let filters = HashMap::from([("label", vec![label])]);
        let services = self
            .docker()
            .list_services(Some(
                ListServicesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list swarm services labelled {label}"), e))?;
        let tasks = self
            .docker()
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list swarm tasks labelled {label}"), e))?;
        let networks = self
            .docker()
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list networks labelled {label}"), e))?;
        let secrets = self
            .docker()
            .list_secrets(Some(
                ListSecretsOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list secrets labelled {label}"), e))?;
        let configs = self
            .docker()
            .list_configs(Some(
                ListConfigsOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("list configs labelled {label}"), e))?;
        Ok(Leftovers {
            services: services.into_iter().filter_map(|s| s.id).collect(),
            tasks: tasks.into_iter().filter_map(|t| t.id).collect(),
            networks: networks.into_iter().filter_map(|n| n.id).collect(),
            secrets: secrets.into_iter().filter_map(|s| s.id).collect(),
            configs: configs.into_iter().filter_map(|c| c.id).collect(),
        })
    }

    /// Removes everything labelled `label`. Services go first; networks,
    /// secrets and configs still in use by tasks being stopped are retried
    /// until `settle` has passed, then the last refusal is returned. A task
    /// on a lost node stays listed (and its container runs there) until the
    /// node returns and removes it; it does not hold the network.
    pub async fn remove_labelled(
        &self,
        label: &str,
        settle: Duration,
    ) -> Result<Removed, ClusterError> {
        let mut removed = Removed::default();
        let found = self.leftovers(label).await?;
        for id in &found.services {
            match self.docker().delete_service(id).await {
                Ok(()) => removed.services += 1,
                Err(e) => {
                    let err = ClusterError::op(format!("remove swarm service {id}"), e);
                    if !err.is_not_found() {
                        return Err(err);
                    }
                }
            }
        }
        let deadline = Instant::now() + settle;
        let mut pending = found;
        loop {
            let mut last_err = None;
            let mut still = Leftovers::default();
            for id in &pending.networks {
                match self.remove_network(id).await {
                    Ok(()) => removed.networks += 1,
                    Err(e) if e.is_in_use() => {
                        still.networks.push(id.clone());
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            for id in &pending.secrets {
                match self.docker().delete_secret(id).await {
                    Ok(()) => removed.secrets += 1,
                    Err(e) => {
                        let err = ClusterError::op(format!("remove secret {id}"), e);
                        if err.is_in_use() {
                            still.secrets.push(id.clone());
                            last_err = Some(err);
                        } else if !err.is_not_found() {
                            return Err(err);
                        }
                    }
                }
            }
            for id in &pending.configs {
                match self.docker().delete_config(id).await {
                    Ok(()) => removed.configs += 1,
                    Err(e) => {
                        let err = ClusterError::op(format!("remove config {id}"), e);
                        if err.is_in_use() {
                            still.configs.push(id.clone());
                            last_err = Some(err);
                        } else if !err.is_not_found() {
                            return Err(err);
                        }
                    }
                }
            }
            match last_err {
                None => return Ok(removed),
                Some(err) if Instant::now() >= deadline => return Err(err),
                Some(_) => {
                    pending = still;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
