//! Why a sandbox could not be made, used or taken apart. Every variant is
//! racebench's or the machine's fault (an agent's failures are recorded, not
//! raised), but naming a sandbox that is not open is the user's.

use crate::engine::EngineError;
use crate::pod::PodError;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("failed to start the sandbox {name}")]
    Pod {
        name: String,
        #[source]
        source: PodError,
    },
    #[error("failed to {action} in the sandbox {name}")]
    Engine {
        name: String,
        action: String,
        #[source]
        source: EngineError,
    },
    #[error("failed to make the work tree {path} a git repository at the base commit: {output}")]
    Workspace { path: String, output: String },
    #[error("failed to read the work tree {path} copied out of the sandbox")]
    Tree {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no open sandbox is called {name}; `racebench sandbox DATAPOINT` prints the name of the one it opens")]
    NotOpen { name: String },
    #[error("the work tree {path} is larger than {limit_mb} MiB; racebench will not diff it")]
    TooLarge { path: String, limit_mb: usize },
}

impl SandboxError {
    pub fn is_infra(&self) -> bool {
        !matches!(self, SandboxError::NotOpen { .. })
    }
}
