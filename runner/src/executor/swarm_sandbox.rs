//! An agent's sandbox on a swarm. The manager proxies no exec or archive
//! call, so the sandbox drives itself, and what it leaves is read by a
//! trusted task after it ended:
//!
//! 1. racebench's pristine copy of the work tree, from its own local copy of
//!    the datapoint image (a container created, never started, its work tree
//!    copied out through the archive API);
//! 2. on a node picked as for a trial: a **prepare** task (the datapoint
//!    image, as root, before anything of the agent's exists) makes the
//!    sandbox's folders under `/var/tmp/racebench-sandboxes/<pod>/` and copies
//!    the image's work tree into `work/`; the pod's services start meanwhile;
//! 3. the **main** task (the datapoint image, the main container's
//!    capabilities and limits, the pod's network: internal, or with a route
//!    off the node for `egress`) runs the sandbox entrypoint with the work
//!    tree, `/racebench/out`, `/racebench/agent-out` and `/racebench/run`
//!    bind-mounted from those folders; its end (the agent's command done or
//!    killed at its limit by `timeout`) ends every process of the agent. If it
//!    does not end in time, racebench stops its task and waits until the node
//!    reports the container stopped;
//! 4. a **collector** task from the base image (by digest), root with only
//!    `DAC_READ_SEARCH`, no network, mounts the folders read-only and hands
//!    the tree, outputs, events file and logs back as framed output; the main
//!    task's own output is never read;
//! 5. a **clean** task removes the folders, and the pod's label guard the
//!    services, network, configs and secret.
//!
//! The diff is then taken by the caller, from the pristine and collected
//! trees, as locally. A lost node is an infrastructure error; the sandbox is
//! made again on another node (`retries`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racebench_model::Datapoint;
use tokio_util::sync::CancellationToken;

use super::swarm::{mount_inputs, pod_name, Failure, PodInput, Swarm, LOG_CAP, PULL_LIMIT};
use crate::archive::FileSet;
use crate::cluster::{
    BindMount, Demand, InputKind, Job, JobLimits, JobOutcome, JobSpec, LabelGuard, Manager,
    PodStartError, SwarmPodSpec, WaitLimits, MAX_INPUT_BYTES,
};
use crate::engine::{ContainerSpec, Engine};
use crate::labels;
use crate::pod::{Blueprint, MAIN_CAPS};
use crate::sandbox::{
    agent_env_file, clean_command, collector_command, host_mount, main_mounts, pod_folder,
    prepare_command, read_collected, sandbox_entrypoint_script, Collected, SandboxPlan, Tree,
    AGENT_ENV_SECRET, COLLECT_MOUNT, FILES_INPUT, INIT_LIMIT_SECS, NODE_ROOT, SANDBOX_ENTRYPOINT,
    SANDBOX_PLAN, TREE_LIMIT,
};
use crate::trial::{split_input, PodTemplate};

/// Beyond the entrypoint's own limits, before racebench stops the main task.
const MAIN_MARGIN: Duration = Duration::from_secs(60);
/// How long the prepare, collect and clean tasks may run.
const PREPARE_LIMIT: Duration = Duration::from_secs(300);
const COLLECT_LIMIT: Duration = Duration::from_secs(900);
const CLEAN_LIMIT: Duration = Duration::from_secs(120);
/// How long a stopped task's node may take to report its container stopped.
const STOP_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

/// Everything one sandbox on a swarm is made from.
#[derive(Clone)]
pub struct SwarmSandboxSpec {
    pub run_id: String,
    pub datapoint: Arc<Datapoint>,
    /// The datapoint image as the local engine has it (pushed by digest).
    pub image: String,
    pub candidate: String,
    pub sample: u32,
    /// A network with a route off the node.
    pub egress: bool,
    /// The main container's own environment (the services add theirs).
    pub env: Vec<(String, String)>,
    /// The agent's `env` and `pass_env` (a secret, sourced before the setup).
    pub agent_env: Vec<(String, String)>,
    /// Unpacked at `/` before the agent runs: prompt, tools, agent files.
    pub files: FileSet,
    pub setup: Option<String>,
    /// `None`: the agent runs nothing (`nop`).
    pub command: Option<String>,
    /// The wall-clock limit of the setup and of the command, each.
    pub limit: Duration,
    pub pod: Arc<PodTemplate>,
    pub keep: bool,
    /// Times a sandbox whose node was lost is made again elsewhere.
    pub retries: u32,
}

/// What a sandbox on a swarm left, for the caller to diff and record.
pub struct SwarmSandboxRun {
    pub pristine: Tree,
    pub collected: Collected,
    /// racebench stopped the main task at its own limit: the entrypoint did
    /// not end (something in the sandbox kept it from it).
    pub stopped_at_limit: bool,
    /// Until the agent's container was running.
    pub sandbox: Duration,
    /// The main task's run.
    pub agent: Duration,
    /// The collector's.
    pub collect: Duration,
    /// Earlier attempts on lost nodes, cleanup problems.
    pub notes: Vec<String>,
}

/// Why a sandbox on a swarm gave nothing to diff.
#[derive(Debug)]
pub enum SandboxFailure {
    Infra(String),
    Cancelled,
}

/// What an attempt made, for its cleanup.
#[derive(Default)]
struct Made {
    node: Option<(String, String)>,
    prepared: bool,
    main: Option<Job>,
    main_ended: bool,
}

/// Waits for `fut` unless the run is interrupted first.
async fn unless_killed<T>(
    kill: &CancellationToken,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::select! {
        biased;
        _ = kill.cancelled() => Err(Failure::Cancelled),
        v = fut => Ok(v),
    }
}

impl Swarm {
    /// Runs one sandbox on the swarm to what it left; whatever happens,
    /// everything it made on the swarm and its node is removed (unless
    /// `keep`).
    pub async fn run_sandbox(
        &self,
        engine: &Engine,
        spec: &SwarmSandboxSpec,
        kill: &CancellationToken,
    ) -> Result<SwarmSandboxRun, SandboxFailure> {
        let labels = labels::for_trial(
            &spec.run_id,
            &spec.datapoint.spec.id,
            &spec.candidate,
            spec.sample,
            "sandbox",
        );
        let pristine = pristine_tree(engine, spec, &labels)
            .await
            .map_err(SandboxFailure::Infra)?;
        let mut notes = Vec::new();
        let mut attempt = 0;
        loop {
            let name = pod_name();
            let manager = &self.inner.manager;
            let mut guard = LabelGuard::new(manager, format!("{}={name}", labels::POD));
            guard.keep(spec.keep);
            let mut made = Made::default();
            let result = self
                .sandbox_attempt(spec, &name, &labels, &mut made, kill)
                .await;
            let lost = matches!(result, Err(Failure::Lost { .. }));
            let mut problems = Vec::new();
            if !spec.keep {
                problems = self.sandbox_cleanup(&name, &made, lost).await;
            }
            if let Err(e) = guard.remove().await {
                problems.push(format!("cleanup failed: {e}"));
            }
            for p in &problems {
                tracing::warn!(sandbox = %name, "{p}");
            }
            match result {
                Ok(mut run) => {
                    notes.extend(problems);
                    run.pristine = pristine;
                    run.notes = notes;
                    return Ok(run);
                }
                Err(Failure::Cancelled) => return Err(SandboxFailure::Cancelled),
                Err(Failure::Infra(why)) => {
                    let mut why = why;
                    for p in problems {
                        why.push_str("; ");
                        why.push_str(&p);
                    }
                    return Err(SandboxFailure::Infra(why));
                }
                Err(Failure::Lost {
                    node_id,
                    hostname,
                    why,
                }) => {
                    self.mark_lost(node_id, hostname);
                    if attempt >= spec.retries {
                        return Err(SandboxFailure::Infra(why));
                    }
                    attempt += 1;
                    notes.push(format!(
                        "attempt {attempt} was lost ({why}); the sandbox was made again on another node"
                    ));
                }
            }
        }
    }

    async fn sandbox_attempt(
        &self,
        spec: &SwarmSandboxSpec,
        name: &str,
        labels: &HashMap<String, String>,
        made: &mut Made,
        kill: &CancellationToken,
    ) -> Result<SwarmSandboxRun, Failure> {
        let begin = Instant::now();
        let manager = &self.inner.manager;
        let dp = &spec.datapoint.spec;
        let workspace = dp.workspace.path.clone();
        let image = self
            .inner
            .images
            .datapoints
            .get(&spec.image)
            .cloned()
            .ok_or_else(|| {
                Failure::Infra(format!(
                    "the image {} was not pushed to the registry",
                    spec.image
                ))
            })?;
        let base = self.inner.images.base.clone().ok_or_else(|| {
            Failure::Infra("the base image was not pushed to the registry".into())
        })?;
        let services: Vec<Blueprint> = dp
            .services
            .iter()
            .map(|&kind| Blueprint::new(kind, &dp.kafka.topics))
            .collect();
        let service_mb = spec.pod.service_limits.memory_mb * services.len() as u64;
        let demand = Demand {
            cpus: dp.limits.cpus,
            memory_bytes: ((dp.limits.memory_mb + service_mb) * 1024 * 1024) as i64,
        };
        let node = unless_killed(kill, self.place(demand)).await??;
        made.node = Some((node.node_id.clone(), node.hostname.clone()));
        let hostname = node.hostname.clone();
        let lost = |outcome: &JobOutcome, what: &str| match outcome {
            JobOutcome::Lost { node_id, reason } => Failure::Lost {
                node_id: node_id.clone(),
                hostname: hostname.clone(),
                why: format!("{what} on node {hostname}: {reason}"),
            },
            other => Failure::Infra(format!("{what} on node {hostname}: {other:?}")),
        };
        let object_labels = |role: &str| {
            let mut l = labels.clone();
            l.extend(labels::owned(role));
            l.insert(labels::POD.into(), name.to_string());
            l
        };
        let helper = |suffix: &str, image: &str, args: Vec<String>, mount: BindMount| JobSpec {
            name: format!("{name}-{suffix}"),
            image: image.to_string(),
            args,
            env: BTreeMap::new(),
            labels: object_labels("sandbox-helper"),
            node_id: node.node_id.clone(),
            limits: JobLimits {
                cpus: 0.0,
                memory_mb: 512,
                pids: 256,
            },
            network: None,
            capabilities: None,
            user: None,
            stop_grace: Duration::from_secs(1),
            inputs: Vec::new(),
            health: None,
            init: false,
            mounts: vec![mount],
        };
        let task_limits = |run: Duration| WaitLimits {
            start: PULL_LIMIT,
            run,
            poll: POLL,
        };

        // The folders, while the pod's services start.
        let (parent, inside) = host_mount();
        let prepare = manager
            .create_job(&helper(
                "prepare",
                &image,
                prepare_command(name, &workspace),
                BindMount {
                    source: parent.into(),
                    target: inside.into(),
                    read_only: false,
                },
            ))
            .await?;
        made.prepared = true;
        let pod_spec = SwarmPodSpec {
            name: name.to_string(),
            labels: labels.clone(),
            node_id: node.node_id.clone(),
            services,
            images: self.inner.images.services.clone(),
            service_limits: spec.pod.service_limits.clone(),
            ready: spec.pod.ready_timeout,
            pull: PULL_LIMIT,
            egress: spec.egress,
        };
        let pod = match unless_killed(kill, pod_spec.start(manager)).await? {
            Ok(pod) => pod,
            Err(PodStartError::Cluster(e)) => return Err(e.into()),
            Err(e @ PodStartError::Service { .. }) => {
                let PodStartError::Service { outcome, .. } = &e else {
                    unreachable!()
                };
                return Err(lost(outcome, &e.to_string()));
            }
        };
        match unless_killed(kill, manager.wait(&prepare, task_limits(PREPARE_LIMIT))).await?? {
            JobOutcome::Completed => {}
            JobOutcome::Failed { exit_code, err } => {
                let logs = manager.job_logs(&prepare, 64 * 1024).await?;
                return Err(Failure::Infra(format!(
                    "failed to prepare the sandbox's folders on node {hostname} (exit {exit_code:?}, {err}): {}",
                    String::from_utf8_lossy(&logs.stderr).trim()
                )));
            }
            other => return Err(lost(&other, "the sandbox's prepare task")),
        }

        // The inputs and the main task.
        let service_env: Vec<(String, String)> = pod_spec
            .services
            .iter()
            .flat_map(|bp| bp.trial_env.iter().cloned())
            .collect();
        let files = spec
            .files
            .to_tar()
            .map_err(|e| Failure::Infra(format!("failed to pack the sandbox's files: {e}")))?;
        let parts = files.len().div_ceil(MAX_INPUT_BYTES).max(1);
        let part_paths: Vec<String> = if parts == 1 {
            vec![FILES_INPUT.to_string()]
        } else {
            (0..parts)
                .map(|i| format!("{FILES_INPUT}.{i:03}"))
                .collect()
        };
        let plan = SandboxPlan {
            workspace: workspace.clone(),
            files_parts: part_paths.clone(),
            setup: spec.setup.clone(),
            command: spec.command.clone(),
            limit_secs: spec.limit.as_secs().max(1),
        };
        let mut inputs: Vec<PodInput> = vec![
            (
                InputKind::Config,
                "entrypoint".into(),
                SANDBOX_ENTRYPOINT.into(),
                sandbox_entrypoint_script().into_bytes(),
                0o555,
            ),
            (
                InputKind::Config,
                "plan".into(),
                SANDBOX_PLAN.into(),
                plan.to_shell().into_bytes(),
                0o444,
            ),
        ];
        for (i, (path, part)) in part_paths
            .iter()
            .zip(split_input(&files, parts))
            .enumerate()
        {
            inputs.push((
                InputKind::Config,
                format!("files-{i}"),
                path.clone(),
                part.to_vec(),
                0o444,
            ));
        }
        if !spec.agent_env.is_empty() {
            let text = agent_env_file(&spec.agent_env).map_err(Failure::Infra)?;
            inputs.push((
                InputKind::Secret,
                "env".into(),
                AGENT_ENV_SECRET.into(),
                text.into_bytes(),
                0o400,
            ));
        }
        let input_labels = object_labels("sandbox-input");
        let mounts = mount_inputs(manager, name, inputs, &input_labels).await?;
        let limits = &dp.limits;
        let main = JobSpec {
            name: format!("{name}-main"),
            image: image.clone(),
            args: vec!["sh".into(), SANDBOX_ENTRYPOINT.into()],
            env: spec
                .env
                .iter()
                .cloned()
                .chain(service_env)
                .collect::<BTreeMap<_, _>>(),
            labels: object_labels("sandbox"),
            node_id: node.node_id.clone(),
            limits: JobLimits {
                cpus: limits.cpus,
                memory_mb: limits.memory_mb,
                pids: limits.pids as u64,
            },
            network: Some((pod.network.name.clone(), Vec::new())),
            capabilities: Some(MAIN_CAPS.iter().map(|c| c.to_string()).collect()),
            user: None,
            stop_grace: Duration::from_secs(1),
            inputs: mounts,
            health: None,
            init: true,
            mounts: main_mounts(name, &workspace)
                .into_iter()
                .map(|(source, target)| BindMount {
                    source,
                    target,
                    read_only: false,
                })
                .collect(),
        };
        let job = manager.create_job(&main).await?;
        made.main = Some(job.clone());
        let mut run_limit = Duration::from_secs(2 * INIT_LIMIT_SECS) + MAIN_MARGIN;
        if spec.setup.is_some() {
            run_limit += spec.limit;
        }
        if spec.command.is_some() {
            run_limit += spec.limit;
        }
        let wait = task_limits(run_limit);
        match unless_killed(kill, manager.wait_running(&job, wait)).await?? {
            Ok(()) | Err(JobOutcome::Completed | JobOutcome::Failed { .. }) => {}
            Err(other) => return Err(lost(&other, "the sandbox container did not start")),
        }
        let sandbox = begin.elapsed();
        let started = Instant::now();
        let mut stopped_at_limit = false;
        match unless_killed(kill, manager.wait(&job, wait)).await?? {
            JobOutcome::Completed | JobOutcome::Failed { .. } => {}
            JobOutcome::TimedOut => {
                manager.stop_job(&job).await?;
                if let Some(outcome) = manager.wait_stopped(&job, STOP_LIMIT, POLL).await? {
                    return Err(lost(&outcome, "the sandbox container did not stop"));
                }
                stopped_at_limit = true;
            }
            other => return Err(lost(&other, "the sandbox container stopped")),
        }
        made.main_ended = true;
        let agent = started.elapsed();

        // Every process of the agent has ended: collect.
        let started = Instant::now();
        let mut collector = helper(
            "collect",
            &base,
            collector_command(
                dp.events
                    .as_deref()
                    .and_then(|e| e.strip_prefix(crate::sandbox::OUT_DIR))
                    .map(|e| e.trim_start_matches('/')),
            ),
            BindMount {
                source: pod_folder(name),
                target: COLLECT_MOUNT.into(),
                read_only: true,
            },
        );
        collector.capabilities = Some(vec!["DAC_READ_SEARCH".into()]);
        let collector = manager.create_job(&collector).await?;
        match unless_killed(kill, manager.wait(&collector, task_limits(COLLECT_LIMIT))).await?? {
            JobOutcome::Completed => {}
            JobOutcome::Failed { exit_code, err } => {
                let logs = manager.job_logs(&collector, 64 * 1024).await?;
                return Err(Failure::Infra(format!(
                    "the sandbox's collector failed on node {hostname} (exit {exit_code:?}, {err}): {}",
                    String::from_utf8_lossy(&logs.stderr).trim()
                )));
            }
            other => return Err(lost(&other, "the sandbox's collector")),
        }
        let logs = manager.job_logs(&collector, LOG_CAP).await?;
        if logs.truncated {
            return Err(Failure::Infra(format!(
                "the sandbox's collector wrote more than {} MiB, past its own caps",
                LOG_CAP >> 20
            )));
        }
        let collected = read_collected(&logs.stdout).map_err(|e| Failure::Infra(e.to_string()))?;
        Ok(SwarmSandboxRun {
            pristine: Tree::default(),
            collected,
            stopped_at_limit,
            sandbox,
            agent,
            collect: started.elapsed(),
            notes: Vec::new(),
        })
    }

    /// Stops the main task if it may still run, then removes the sandbox's
    /// folders on its node; returns what could not be done.
    async fn sandbox_cleanup(&self, name: &str, made: &Made, lost: bool) -> Vec<String> {
        let manager = &self.inner.manager;
        let mut problems = Vec::new();
        let Some((node_id, hostname)) = &made.node else {
            return problems;
        };
        let left =
            || format!("the sandbox's folder {NODE_ROOT}/{name} may be left on node {hostname}");
        if lost {
            problems.push(left());
            return problems;
        }
        if let (Some(main), false) = (&made.main, made.main_ended) {
            let stopped = match manager.stop_job(main).await {
                Ok(()) => manager.wait_stopped(main, STOP_LIMIT, POLL).await,
                Err(e) => Err(e),
            };
            if !matches!(stopped, Ok(None)) {
                problems.push(format!(
                    "the sandbox's container was not seen to stop; {}",
                    left()
                ));
                return problems;
            }
        }
        if !made.prepared {
            return problems;
        }
        let (Some(base), Some(command)) = (self.inner.images.base.clone(), clean_command(name))
        else {
            problems.push(left());
            return problems;
        };
        let mut labels = labels::owned("sandbox-helper");
        labels.insert(labels::POD.into(), name.to_string());
        let clean = JobSpec {
            name: format!("{name}-clean"),
            image: base,
            args: command,
            env: BTreeMap::new(),
            labels,
            node_id: node_id.clone(),
            limits: JobLimits {
                cpus: 0.0,
                memory_mb: 256,
                pids: 64,
            },
            network: None,
            capabilities: None,
            user: None,
            stop_grace: Duration::from_secs(1),
            inputs: Vec::new(),
            health: None,
            init: false,
            mounts: vec![{
                let (parent, inside) = host_mount();
                BindMount {
                    source: parent.into(),
                    target: inside.into(),
                    read_only: false,
                }
            }],
        };
        let limits = WaitLimits {
            start: PULL_LIMIT,
            run: CLEAN_LIMIT,
            poll: POLL,
        };
        match clean_on(manager, &clean, limits).await {
            Ok(JobOutcome::Completed) => {}
            Ok(other) => problems.push(format!("{} (the clean task: {other:?})", left())),
            Err(e) => problems.push(format!("{} ({e})", left())),
        }
        problems
    }
}

async fn clean_on(
    manager: &Manager,
    spec: &JobSpec,
    limits: WaitLimits,
) -> Result<JobOutcome, crate::cluster::ClusterError> {
    let job = manager.create_job(spec).await?;
    manager.wait(&job, limits).await
}

/// The work tree as the datapoint image has it, from the local engine's copy
/// of the image: a container created (never started), its work tree copied
/// out, the container removed.
async fn pristine_tree(
    engine: &Engine,
    spec: &SwarmSandboxSpec,
    labels: &HashMap<String, String>,
) -> Result<Tree, String> {
    let workspace = &spec.datapoint.spec.workspace.path;
    let mut container_labels = labels.clone();
    container_labels.extend(labels::owned("sandbox-pristine"));
    container_labels.insert(
        labels::POD.into(),
        format!("rb-pristine-{}", &crate::pod::secret()[..12]),
    );
    let id = engine
        .create_container(&ContainerSpec {
            image: spec.image.clone(),
            cmd: vec!["true".into()],
            entrypoint: Some(Vec::new()),
            labels: container_labels,
            hardened: true,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("failed to read the pristine work tree: {e}"))?;
    let copied = engine.get_archive(&id, workspace, TREE_LIMIT).await;
    if let Err(e) = engine.remove_container(&id).await {
        tracing::warn!("{e}");
    }
    match copied.map_err(|e| format!("failed to read the pristine work tree: {e}"))? {
        None => Err(format!("the image {} has no {workspace}", spec.image)),
        Some((_, true)) => Err(format!(
            "the work tree {workspace} is larger than {} MiB; racebench will not diff it",
            TREE_LIMIT / 1024 / 1024
        )),
        Some((tar, false)) => Tree::from_tar(&tar)
            .map_err(|e| format!("failed to read the pristine work tree {workspace}: {e}")),
    }
}
