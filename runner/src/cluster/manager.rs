//! A connection to a swarm manager's engine: every swarm call racebench makes
//! goes through it. Only the manager is ever spoken to; it does not proxy exec
//! or archive calls to containers on other nodes, which is why trials on a
//! swarm drive themselves (see `docs/cluster.md`).

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::ListNodesOptionsBuilder;
use bollard::{Docker, API_DEFAULT_VERSION};

use super::error::ClusterError;
use super::node::NodeInfo;

/// A connected swarm manager. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Manager {
    docker: Docker,
    host: String,
    node_id: String,
}

impl Manager {
    /// Connects to the manager whose engine listens at `host` (`unix://PATH`)
    /// and checks that it is a manager of an active swarm.
    pub async fn connect(host: &str) -> Result<Manager, ClusterError> {
        let unreachable = |reason: String| ClusterError::Unreachable {
            host: host.to_string(),
            reason,
        };
        let Some(path) = host.strip_prefix("unix://") else {
            return Err(unreachable(
                "only unix:// sockets are supported (forward a remote one with ssh -L)".into(),
            ));
        };
        let docker = Docker::connect_with_unix(path, 120, API_DEFAULT_VERSION)
            .map_err(|e| unreachable(crate::engine::describe(&e)))?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|e| unreachable(crate::engine::describe(&e)))?;
        let info = docker
            .info()
            .await
            .map_err(|e| unreachable(crate::engine::describe(&e)))?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available != Some(true) {
            let state = swarm
                .local_node_state
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into());
            return Err(ClusterError::NotManager {
                host: host.to_string(),
                reason: format!(
                    "this engine is not a swarm manager (swarm state {state}); run `docker swarm init` there, or point at a manager"
                ),
            });
        }
        let node_id = swarm.node_id.unwrap_or_default();
        tracing::debug!(%host, %node_id, "connected to swarm manager");
        Ok(Manager {
            docker,
            host: host.to_string(),
            node_id,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The manager's own node id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Every node of the swarm, as the manager sees it now.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let nodes = self
            .docker
            .list_nodes(None)
            .await
            .map_err(|e| ClusterError::op("list swarm nodes", e))?;
        let mut nodes: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::from_api).collect();
        nodes.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
        Ok(nodes)
    }

    /// One node by id or hostname; `None` when the swarm has no such node.
    pub async fn node(&self, id_or_name: &str) -> Result<Option<NodeInfo>, ClusterError> {
        let filters = HashMap::from([("id", vec![id_or_name])]);
        let by_id = self
            .docker
            .list_nodes(Some(
                ListNodesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| ClusterError::op(format!("inspect swarm node {id_or_name}"), e))?;
        if let Some(node) = by_id
            .into_iter()
            .find(|n| n.id.as_deref() == Some(id_or_name))
        {
            return Ok(Some(NodeInfo::from_api(node)));
        }
        Ok(self
            .nodes()
            .await?
            .into_iter()
            .find(|n| n.hostname == id_or_name))
    }
}
