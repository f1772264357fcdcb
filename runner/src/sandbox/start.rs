//! Starting a sandbox: the pod (main container and live services, as a
//! trial's), the prompt and tools copied in, the work tree made a git
//! repository at the base commit, and racebench's own pristine copy of that
//! tree taken before anything of the agent runs. No hidden tests, solutions
//! or weights are ever copied in: the image holds none (its build context
//! leaves them out) and nothing here adds them.

use std::time::{Duration, Instant};

use crate::archive::FileSet;
use crate::engine::{ContainerLimits, Engine, ExecOutput, NetworkIsolation};
use crate::pod::{MainContainer, Pod, PodSpec};

use super::attach::WORKSPACE_LABEL;
use super::error::SandboxError;
use super::spec::{
    AgentNetwork, SandboxSpec, AGENT_DIR, AGENT_OUT, BIN_DIR, OUT_DIR, PROMPT_PATH, TOOLS_DIR,
};
use super::tree::Tree;

/// racebench's `timeline` tool, put in every sandbox.
const TIMELINE_TOOL: &str = include_str!("timeline.py");
/// Cap on a work tree copied out of a sandbox.
pub const TREE_LIMIT: usize = 256 * 1024 * 1024;

/// Where a sandbox's start-up time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct SandboxTimings {
    /// Network and containers created and started.
    pub container: Duration,
    /// Until every service answered its probe.
    pub services: Duration,
    /// Prompt and tools copied in, git repository made, pristine copy taken.
    pub workspace: Duration,
}

impl SandboxTimings {
    pub fn total(&self) -> Duration {
        self.container + self.services + self.workspace
    }
}

/// A running sandbox. [`Sandbox::remove`] removes it; dropped, its pod's
/// guards do.
pub struct Sandbox {
    pub(super) engine: Engine,
    pub(super) pod: Pod,
    pub(super) name: String,
    pub(super) workspace: String,
    /// The datapoint's events file, if it declares one.
    pub(super) events: Option<String>,
    pub(super) pristine: Tree,
    pub timings: SandboxTimings,
}

impl Sandbox {
    /// Starts the pod, waits for its services and prepares the work tree.
    pub async fn start(engine: &Engine, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        let dp = &spec.datapoint.spec;
        let pod_spec = PodSpec {
            name: spec.name.clone(),
            labels: {
                let mut labels = spec.labels.clone();
                labels.insert(WORKSPACE_LABEL.into(), dp.workspace.path.clone());
                labels
            },
            main: MainContainer {
                image: spec.image.clone(),
                env: env(spec),
                limits: ContainerLimits::from(&dp.limits),
                cmd: vec!["sleep".into(), "infinity".into()],
                hostname: "sandbox".into(),
            },
            services: dp.services.clone(),
            topics: dp.kafka.topics.clone(),
            images: spec.pod.images.clone(),
            service_limits: spec.pod.service_limits.clone(),
            isolation: match spec.network {
                AgentNetwork::Contained => NetworkIsolation::Contained,
                AgentNetwork::Egress => NetworkIsolation::Open,
            },
        };
        let pod_err = |source| SandboxError::Pod {
            name: spec.name.clone(),
            source,
        };
        let t = Instant::now();
        let mut pod = Pod::start(engine, &pod_spec).await.map_err(pod_err)?;
        let container = t.elapsed();
        let t = Instant::now();
        if let Err(e) = pod.ready(spec.pod.ready_timeout).await {
            let _ = pod.remove().await;
            return Err(pod_err(e));
        }
        let services = t.elapsed();
        let t = Instant::now();
        let mut sandbox = Sandbox {
            engine: engine.clone(),
            pod,
            name: spec.name.clone(),
            workspace: dp.workspace.path.clone(),
            events: dp.events.clone(),
            pristine: Tree::default(),
            timings: SandboxTimings {
                container,
                services,
                ..Default::default()
            },
        };
        let prepared = sandbox.prepare(spec).await;
        if let Err(e) = prepared {
            let _ = sandbox.remove().await;
            return Err(e);
        }
        sandbox.timings.workspace = t.elapsed();
        Ok(sandbox)
    }

    async fn prepare(&mut self, spec: &SandboxSpec) -> Result<(), SandboxError> {
        self.put_files("/", &sandbox_files(spec)).await?;
        let out = self
            .run_as_root(&["sh".into(), "-c".into(), INIT_SCRIPT.into()])
            .await?;
        if out.exit_code != Some(0) {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            return Err(SandboxError::Workspace {
                path: self.workspace.clone(),
                output: text.trim().to_string(),
            });
        }
        self.pristine = self.copy_tree().await?;
        Ok(())
    }

    /// The sandbox's name (its main container's).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn main_id(&self) -> &str {
        self.pod.main_id()
    }

    /// The work tree's path inside the sandbox.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// Copies files into the sandbox (paths relative to `dest`).
    pub async fn put_files(&self, dest: &str, files: &FileSet) -> Result<(), SandboxError> {
        let tar = files.to_tar().map_err(|source| SandboxError::Tree {
            path: dest.into(),
            source,
        })?;
        self.engine
            .put_archive(self.main_id(), dest, tar)
            .await
            .map_err(|source| self.engine_err("copy files in", source))
    }

    /// Runs a command in the work tree with racebench's tools on `PATH`; the
    /// caller bounds the wait.
    pub async fn exec(
        &self,
        cmd: &[String],
        env: &[(String, String)],
    ) -> Result<ExecOutput, SandboxError> {
        let wrapped = with_tools_on_path(cmd);
        let env: Vec<(String, String)> = self
            .pod
            .env()
            .iter()
            .cloned()
            .chain(env.iter().cloned())
            .collect();
        self.engine
            .exec(self.main_id(), &wrapped, &env, Some(&self.workspace))
            .await
            .map_err(|source| self.engine_err(&format!("run `{}`", cmd.join(" ")), source))
    }

    async fn run_as_root(&self, cmd: &[String]) -> Result<ExecOutput, SandboxError> {
        self.exec(cmd, &[]).await
    }

    /// The work tree as it is now, copied out through the archive API.
    pub(super) async fn copy_tree(&self) -> Result<Tree, SandboxError> {
        let tar = self
            .engine
            .get_archive(self.main_id(), &self.workspace, TREE_LIMIT)
            .await
            .map_err(|source| self.engine_err("copy the work tree out", source))?;
        let Some((tar, cut)) = tar else {
            return Ok(Tree::default());
        };
        if cut {
            return Err(SandboxError::TooLarge {
                path: self.workspace.clone(),
                limit_mb: TREE_LIMIT / 1024 / 1024,
            });
        }
        Tree::from_tar(&tar).map_err(|source| SandboxError::Tree {
            path: self.workspace.clone(),
            source,
        })
    }

    pub(super) fn engine_err(
        &self,
        action: &str,
        source: crate::engine::EngineError,
    ) -> SandboxError {
        SandboxError::Engine {
            name: self.name.clone(),
            action: action.into(),
            source,
        }
    }

    /// Removes the pod (or leaves it, with `keep`).
    pub async fn remove(mut self) -> Result<(), SandboxError> {
        let name = self.name.clone();
        self.pod.keep(false);
        self.pod
            .remove()
            .await
            .map_err(|source| SandboxError::Pod { name, source })
    }

    /// Leaves the pod in place when it is removed (for debugging).
    pub fn keep(&mut self, keep: bool) {
        self.pod.keep(keep);
    }
}

/// `cmd` run by `sh` with racebench's and the datapoint's tools first on `PATH`.
pub fn with_tools_on_path(cmd: &[String]) -> Vec<String> {
    let mut wrapped = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("PATH={BIN_DIR}:{TOOLS_DIR}:$PATH; export PATH; exec \"$@\""),
        "racebench-sandbox".to_string(),
    ];
    wrapped.extend(cmd.iter().cloned());
    wrapped
}

/// What every sandbox gets at `/` before the agent runs: the prompt,
/// racebench's `timeline` and the datapoint's visible tools.
pub(crate) fn sandbox_files(spec: &SandboxSpec) -> FileSet {
    let mut files = FileSet::new();
    files.add(
        PROMPT_PATH.trim_start_matches('/'),
        spec.prompt.as_bytes().to_vec(),
        0o644,
    );
    files.add(
        &format!("{}/timeline", BIN_DIR.trim_start_matches('/')),
        TIMELINE_TOOL.as_bytes().to_vec(),
        0o755,
    );
    for (name, data, mode) in spec.tools.iter() {
        files.add(
            &format!("{}/{name}", TOOLS_DIR.trim_start_matches('/')),
            data.to_vec(),
            mode | 0o555,
        );
    }
    files
}

/// The main container's own environment (the services add theirs).
pub(crate) fn env(spec: &SandboxSpec) -> Vec<(String, String)> {
    let dp = &spec.datapoint.spec;
    let mut env = vec![
        ("RACEBENCH_SANDBOX".to_string(), "1".to_string()),
        ("RACEBENCH_DATAPOINT".into(), dp.id.clone()),
        ("RACEBENCH_WORKSPACE".into(), dp.workspace.path.clone()),
        ("RACEBENCH_OUT".into(), OUT_DIR.into()),
        ("RACEBENCH_PROMPT".into(), spec.prompt.clone()),
        ("RACEBENCH_PROMPT_FILE".into(), PROMPT_PATH.into()),
        ("RACEBENCH_AGENT_OUT".into(), AGENT_OUT.into()),
        ("RACEBENCH_AGENT_DIR".into(), AGENT_DIR.into()),
    ];
    if let Some(events) = &dp.events {
        env.push(("RACEBENCH_EVENTS".into(), events.clone()));
    }
    env.extend(spec.env.iter().cloned());
    env
}

/// Makes the folders of the sandbox and the work tree a git repository at
/// the base commit (unless the image made it one), as root, before the
/// agent runs.
pub(super) const INIT_SCRIPT: &str = r#"
set -eu
mkdir -p /racebench/out /racebench/agent-out /racebench/agent
chmod 0777 /racebench/out /racebench/agent-out
export GIT_AUTHOR_NAME=racebench GIT_AUTHOR_EMAIL=racebench@localhost
export GIT_COMMITTER_NAME=racebench GIT_COMMITTER_EMAIL=racebench@localhost
git config --global --add safe.directory '*'
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git init -q .
  git add -A
  git commit -q --no-verify -m "racebench base: the unpatched service"
fi
"#;
