//! A sandbox: the pod of a trial (the datapoint's container and its own live
//! services) with no hidden tests, solutions or weights in it, where an
//! agent or a person works on the unpatched service; what it leaves becomes
//! a candidate's diff, taken without running anything of the agent's.

mod attach;
mod diff;
mod error;
mod finish;
mod spec;
mod start;
mod tree;

pub use attach::{exec_in, WORKSPACE_LABEL};
pub use diff::{diff_trees, TreeDiff, MAX_FILE_BYTES};
pub use error::SandboxError;
pub use finish::{Finished, EVENTS_LIMIT, OUTPUTS_LIMIT};
pub use spec::{
    AgentNetwork, SandboxSpec, AGENT_DIR, AGENT_OUT, BIN_DIR, OUT_DIR, PROMPT_PATH, TOOLS_DIR,
};
pub use start::{with_tools_on_path, Sandbox, SandboxTimings, TREE_LIMIT};
pub use tree::{Entry, IgnoreRules, Tree};
