//! What a sandbox is made of and where things are inside it: the documented
//! paths an agent (or a person) can rely on (see `docs/agents.md`).

use std::collections::HashMap;
use std::sync::Arc;

use racebench_model::Datapoint;

use crate::archive::FileSet;
use crate::trial::PodTemplate;

/// The prompt, as a file.
pub const PROMPT_PATH: &str = "/racebench/prompt.md";
/// Where an agent may leave its trajectory, `usage.json` and anything else
/// worth keeping; copied into the results folder after the agent stopped.
pub const AGENT_OUT: &str = "/racebench/agent-out";
/// racebench's own tools (`timeline`), first on `PATH`.
pub const BIN_DIR: &str = "/racebench/bin";
/// The datapoint's visible tools (a reproducer, a smoke test), on `PATH`.
pub const TOOLS_DIR: &str = "/racebench/tools";
/// Files an agent brings along (`files = [...]` of a command agent).
pub const AGENT_DIR: &str = "/racebench/agent";
/// Outputs of the service (its events file), as in a trial.
pub const OUT_DIR: &str = "/racebench/out";

/// Whether the sandbox has a route off its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentNetwork {
    /// The pod's members reach each other and nothing else.
    #[default]
    Contained,
    /// A route out (for a model API); the verification trials stay contained.
    Egress,
}

/// Everything a sandbox is started from.
#[derive(Clone)]
pub struct SandboxSpec {
    /// Unique name: the pod's network and main container.
    pub name: String,
    /// Labels of every object of the pod (run, datapoint, candidate, sample).
    pub labels: HashMap<String, String>,
    pub datapoint: Arc<Datapoint>,
    /// The datapoint image.
    pub image: String,
    /// The services part of the pod (images, limits, readiness deadline).
    pub pod: Arc<PodTemplate>,
    pub network: AgentNetwork,
    /// The prompt's text.
    pub prompt: String,
    /// The datapoint's visible tools, by file name.
    pub tools: FileSet,
    /// More environment for the main container (an agent's API key).
    pub env: Vec<(String, String)>,
}
