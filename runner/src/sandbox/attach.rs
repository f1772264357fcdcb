//! Reaching an open sandbox from outside its owner: `racebench sandbox exec
//! NAME -- CMD` (a person's second terminal, or an agent on the host driving
//! the sandbox) runs one command in its work tree, found by name and checked
//! to be a sandbox by its labels.

use crate::engine::{Engine, ExecOutput};
use crate::labels;

use super::error::SandboxError;
use super::start::with_tools_on_path;

/// Label on a sandbox's main container: the work tree's path inside it.
pub const WORKSPACE_LABEL: &str = "org.racebench.workspace";

/// Runs `cmd` in the work tree of the sandbox called `name`.
pub async fn exec_in(
    engine: &Engine,
    name: &str,
    cmd: &[String],
) -> Result<ExecOutput, SandboxError> {
    let err = |action: &str, source| SandboxError::Engine {
        name: name.into(),
        action: action.into(),
        source,
    };
    let details = engine
        .inspect_container(name)
        .await
        .map_err(|e| err("find the sandbox", e))?;
    let Some(details) = details.filter(|d| {
        // Only a sandbox's main container carries the work tree label.
        d.labels.contains_key(labels::OWNER) && d.labels.contains_key(WORKSPACE_LABEL) && d.running
    }) else {
        return Err(SandboxError::NotOpen { name: name.into() });
    };
    let workspace = details.labels.get(WORKSPACE_LABEL).cloned();
    engine
        .exec(name, &with_tools_on_path(cmd), &[], workspace.as_deref())
        .await
        .map_err(|e| err(&format!("run `{}`", cmd.join(" ")), e))
}
