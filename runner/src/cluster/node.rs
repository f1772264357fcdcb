//! A swarm node as racebench needs it: who it is, whether it is up, whether it
//! takes work, and what it has to give.

use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeState};

/// Whether the manager hears from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeHealth {
    Ready,
    /// Missed its heartbeats (dead, or cut off from the manager).
    Down,
    Disconnected,
    Unknown,
}

/// Whether a node takes new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Active,
    Pause,
    /// Its tasks are being shut down and moved.
    Drain,
}

/// One node of the swarm.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    pub health: NodeHealth,
    /// What the manager said about its health (`heartbeat failure`).
    pub message: String,
    pub availability: Availability,
    pub addr: String,
    pub cpus: f64,
    pub memory_bytes: i64,
}

impl NodeInfo {
    /// Whether a new pod may be placed here.
    pub fn schedulable(&self) -> bool {
        self.health == NodeHealth::Ready && self.availability == Availability::Active
    }

    pub(crate) fn from_api(node: Node) -> NodeInfo {
        let status = node.status.unwrap_or_default();
        let description = node.description.unwrap_or_default();
        let resources = description.resources.unwrap_or_default();
        let health = match status.state {
            Some(NodeState::READY) => NodeHealth::Ready,
            Some(NodeState::DOWN) => NodeHealth::Down,
            Some(NodeState::DISCONNECTED) => NodeHealth::Disconnected,
            _ => NodeHealth::Unknown,
        };
        let availability = match node.spec.and_then(|s| s.availability) {
            Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
            Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
            _ => Availability::Active,
        };
        NodeInfo {
            id: node.id.unwrap_or_default(),
            hostname: description.hostname.unwrap_or_default(),
            health,
            message: status.message.unwrap_or_default(),
            availability,
            addr: status.addr.unwrap_or_default(),
            cpus: resources.nano_cpus.unwrap_or(0) as f64 / 1e9,
            memory_bytes: resources.memory_bytes.unwrap_or(0),
        }
    }
}
