//! Which agent works in a sandbox: the built-in `oracle` (applies the
//! reference: proves the whole loop) and `nop` (changes nothing), or a
//! `command` (any command line, with an optional setup step) from the
//! command line or an agents file (`docs/agents.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::AgentNetwork;

/// Default wall-clock limit of an agent (setup and command, each).
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What the agent does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AgentKind {
    /// Applies the datapoint's reference patch inside the sandbox.
    Oracle,
    /// Does nothing: its diff is empty.
    Nop,
    /// `sh -c COMMAND` in the work tree, after `sh -c SETUP` if given.
    Command {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup: Option<String>,
    },
}

/// An agent, as a run uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Names the agent in results and the leaderboard.
    pub name: String,
    #[serde(flatten)]
    pub kind: AgentKind,
    /// Host files copied into `/racebench/agent/` (by file name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// Environment given to the agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Names of host environment variables passed through (API keys); their
    /// values are never written to the results folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_env: Vec<String>,
    /// `egress` gives the sandbox a route off its pod.
    #[serde(default)]
    pub egress: bool,
    /// Wall-clock limit in seconds (default 30 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl AgentSpec {
    /// A built-in agent by name, if it is one.
    pub fn builtin(name: &str) -> Option<AgentSpec> {
        let kind = match name {
            "oracle" => AgentKind::Oracle,
            "nop" => AgentKind::Nop,
            _ => return None,
        };
        Some(AgentSpec {
            name: name.into(),
            kind,
            files: Vec::new(),
            env: BTreeMap::new(),
            pass_env: Vec::new(),
            egress: false,
            timeout_secs: None,
        })
    }

    pub fn network(&self) -> AgentNetwork {
        if self.egress {
            AgentNetwork::Egress
        } else {
            AgentNetwork::Contained
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_AGENT_TIMEOUT)
    }
}

/// An agents file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AgentsFileError {
    #[error("failed to read the agents file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    agent: Vec<AgentRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRow {
    name: String,
    #[serde(default = "command_kind")]
    kind: String,
    command: Option<String>,
    setup: Option<String>,
    #[serde(default)]
    files: Vec<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    pass_env: Vec<String>,
    #[serde(default)]
    network: Option<String>,
    timeout_secs: Option<u64>,
}

fn command_kind() -> String {
    "command".into()
}

/// Reads `[[agent]]` rows of an agents file; `files` are relative to it.
pub fn read_agents_file(path: &Path) -> Result<Vec<AgentSpec>, AgentsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_agents_file(&text, path)
}

pub fn parse_agents_file(text: &str, path: &Path) -> Result<Vec<AgentSpec>, AgentsFileError> {
    let invalid = |message: String| AgentsFileError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let file: AgentsFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    if file.agent.is_empty() {
        return Err(invalid("no [[agent]] rows".into()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out: Vec<AgentSpec> = Vec::new();
    for row in file.agent {
        let kind = match (row.kind.as_str(), row.command) {
            ("oracle", _) => AgentKind::Oracle,
            ("nop", _) => AgentKind::Nop,
            ("command", Some(command)) => AgentKind::Command {
                command,
                setup: row.setup,
            },
            ("command", None) => {
                return Err(invalid(format!(
                    "agent `{}` needs `command = \"...\"` (a command line run in the work tree)",
                    row.name
                )))
            }
            (other, _) => {
                return Err(invalid(format!(
                    "agent `{}`: unknown kind `{other}`; use command, oracle or nop",
                    row.name
                )))
            }
        };
        let egress = match row.network.as_deref() {
            None | Some("contained") => false,
            Some("egress") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "agent `{}`: network is `contained` or `egress`, not `{other}`",
                    row.name
                )))
            }
        };
        if out.iter().any(|a| a.name == row.name) {
            return Err(invalid(format!("agent `{}` is named twice", row.name)));
        }
        out.push(AgentSpec {
            name: row.name,
            kind,
            files: row.files.into_iter().map(|f| dir.join(f)).collect(),
            env: row.env,
            pass_env: row.pass_env,
            egress,
            timeout_secs: row.timeout_secs,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_files_name_command_and_builtin_agents() {
        let text = r#"
[[agent]]
name = "claude-code"
setup = "npm install -g @anthropic-ai/claude-code"
command = "claude -p \"$RACEBENCH_PROMPT\""
pass_env = ["ANTHROPIC_API_KEY"]
network = "egress"
files = ["hooks/agent.sh"]

[[agent]]
name = "oracle"
kind = "oracle"
"#;
        let agents = parse_agents_file(text, Path::new("cfg/agents.toml")).unwrap();
        assert_eq!(agents.len(), 2);
        assert!(agents[0].egress);
        assert_eq!(agents[0].files, [PathBuf::from("cfg/hooks/agent.sh")]);
        assert_eq!(agents[0].timeout(), DEFAULT_AGENT_TIMEOUT);
        assert_eq!(agents[1].kind, AgentKind::Oracle);
    }

    #[test]
    fn a_command_agent_without_a_command_is_refused_by_name() {
        let err = parse_agents_file("[[agent]]\nname = \"x\"\n", Path::new("a.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.toml: agent `x` needs `command = \"...\"` (a command line run in the work tree)"
        );
        let err = parse_agents_file("[[agent]]\nname = \"x\"\nmodel = 1\n", Path::new("a.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `model`"), "{err}");
    }
}
