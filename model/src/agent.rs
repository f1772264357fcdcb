//! What an agent did in a sandbox, one record per datapoint and sample:
//! `agents/<datapoint>/<candidate>/agent.json` in a run folder, beside the
//! agent's log, its diff and whatever it left in its outputs folder (see
//! `docs/agents.md`). The runner writes it; the grader reads it for reports.

use serde::{Deserialize, Serialize};

/// Version of the agent record format.
pub const AGENT_RECORD_FORMAT: u32 = 1;

/// How an agent's sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentEnd {
    /// The agent's command returned (whatever its exit status).
    Exited,
    /// It ran past `--agent-timeout` and was stopped.
    TimedOut,
    /// Its setup step failed; the agent itself did not run.
    SetupFailed,
    /// The sandbox could not be made (racebench's or the machine's fault).
    InfraError,
    /// The run was interrupted while the agent ran.
    Cancelled,
}

impl AgentEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentEnd::Exited => "exited",
            AgentEnd::TimedOut => "timed_out",
            AgentEnd::SetupFailed => "setup_failed",
            AgentEnd::InfraError => "infra_error",
            AgentEnd::Cancelled => "cancelled",
        }
    }
}

/// Tokens and cost, when the agent wrote a `usage.json` in its outputs folder
/// (`{"input_tokens": N, "output_tokens": N, "cost_usd": X}`, every field
/// optional, other fields ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// One sample of one agent on one datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub format: u32,
    pub agent: String,
    pub datapoint: String,
    /// The candidate the diff became (`<agent>-s<n>`).
    pub candidate: String,
    /// 0-based.
    pub sample: u32,
    pub end: AgentEnd,
    /// Exit status of the agent's command, when it returned.
    pub exit_code: Option<i64>,
    pub started_at: String,
    pub finished_at: String,
    /// Sandbox start-up: pod created and started, services ready, workspace made.
    pub sandbox_ms: u64,
    /// The agent's setup step and command.
    pub agent_ms: u64,
    /// Stopping the agent and taking the diff.
    pub diff_ms: u64,
    /// Files the diff adds, changes or deletes.
    pub files: Vec<String>,
    /// The agent left the workspace as it found it (the candidate's trials
    /// then end as `patch_failed`: an empty patch).
    pub empty_diff: bool,
    /// Why some changes are not in the diff (binary, too large, links).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Files copied out of the agent's outputs folder, relative to the record's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AgentUsage>,
    /// The sandbox's events file (the datapoint's `events`, as the service
    /// left it when the agent stopped), relative to the record's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Relative folder of one sample's files in a run folder.
pub fn agent_rel(datapoint: &str, candidate: &str) -> String {
    format!("agents/{datapoint}/{candidate}")
}
