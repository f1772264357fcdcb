//! What can go wrong talking to a swarm manager, each variant saying what was
//! being done.

/// A failed swarm operation.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "failed to reach a swarm manager at {host}: {reason}\n\
         racebench talks to a manager's engine socket (unix://PATH); to reach a \
         remote manager, forward its socket: `ssh -fNT -L /tmp/racebench-swarm.sock:/var/run/docker.sock USER@MANAGER`"
    )]
    Unreachable { host: String, reason: String },
    #[error("failed to use {host} as a swarm manager: {reason}")]
    NotManager { host: String, reason: String },
    #[error("failed to {action}: {message}")]
    Operation { action: String, message: String },
}

impl ClusterError {
    pub(crate) fn op(action: impl Into<String>, err: bollard::errors::Error) -> ClusterError {
        ClusterError::Operation {
            action: action.into(),
            message: crate::engine::describe(&err),
        }
    }

    /// Whether the manager answered "no such object".
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Operation { message, .. } if message.starts_with("404"))
    }

    /// Whether the manager refused because the object is still in use (a
    /// network with tasks attached, a secret a service mounts).
    pub fn is_in_use(&self) -> bool {
        matches!(self, ClusterError::Operation { message, .. }
            if message.contains("in use") || message.contains("active endpoints"))
    }
}
