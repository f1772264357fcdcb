//! A sandbox: the pod of a trial (the datapoint's container and its own live
//! services) with no hidden tests, solutions or weights in it, where an
//! agent or a person works on the unpatched service; what it leaves becomes
//! a candidate's diff, taken without running anything of the agent's.

mod attach;
mod collected;
mod diff;
mod error;
mod finish;
mod spec;
mod start;
mod swarm_scripts;
mod tree;

pub use attach::{exec_in, WORKSPACE_LABEL};
pub use collected::{read_collected, CollectError, Collected, StepLine};
pub use diff::{diff_trees, TreeDiff, MAX_FILE_BYTES};
pub use error::SandboxError;
pub use finish::{Finished, EVENTS_LIMIT, OUTPUTS_LIMIT};
pub use spec::{
    AgentNetwork, SandboxSpec, AGENT_DIR, AGENT_OUT, BIN_DIR, OUT_DIR, PROMPT_PATH, TOOLS_DIR,
};
pub(crate) use start::{env as sandbox_env, sandbox_files};
pub use start::{with_tools_on_path, Sandbox, SandboxTimings, TREE_LIMIT};
pub use swarm_scripts::{
    agent_env_file, clean_command, collector_command, host_mount, main_mounts, pod_folder,
    prepare_command, sandbox_entrypoint_script, step, SandboxPlan, AGENT_ENV_SECRET, COLLECT_MOUNT,
    FILES_INPUT, INIT_LIMIT_SECS, NODE_ROOT, SANDBOX_ENTRYPOINT, SANDBOX_PLAN,
};
pub use tree::{Entry, IgnoreRules, Tree};
