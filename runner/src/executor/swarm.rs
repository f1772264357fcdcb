//! A Docker swarm: each trial's pod placed on one node the executor picks
//! (room for the whole pod, nodes lost during the run left out), its services
//! as jobs that are ready when healthy, and its main container running the
//! trial entrypoint with the plan, patch and hidden tests as swarm configs and
//! secrets; the record is read back from the main job's logs through the
//! manager. A lost node, a task the swarm would not start and a manager that
//! fails are infrastructure errors, which the scheduler retries (on another
//! node: the lost one is never picked again in this run). See `docs/cluster.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use racebench_model::{ServiceKind, Timings, TrialRecord, Verdict};
use tokio_util::sync::CancellationToken;

use crate::cluster::{
    pick_node, ClusterError, Demand, InputKind, InputMount, JobLimits, JobOutcome, JobSpec,
    LabelGuard, Manager, PodStartError, SwarmPodSpec, WaitLimits, MAX_INPUT_BYTES,
};
use crate::labels;
use crate::pod::{Blueprint, MAIN_CAPS};
use crate::trial::{
    begin_record, entrypoint_inputs, entrypoint_script, ms, record_from_entrypoint, split_input,
    InputPaths, TrialPlan, ENTRYPOINT_PATH, PLAN_PATH,
};

/// How long a task may take to start on its node: the image pull on a node
/// that does not have it yet.
pub(super) const PULL_LIMIT: Duration = Duration::from_secs(600);
/// How long a trial waits for a node with room for its pod.
const PLACE_LIMIT: Duration = Duration::from_secs(900);
/// What the entrypoint may write, base64 and all (its own caps bound it well
/// below this: step output 4 + 4 MiB per stream, outputs 256 MiB).
pub(super) const LOG_CAP: usize = 640 << 20;
/// Where the entrypoint reads an empty patch from.
const EMPTY_PATCH: &str = "/dev/null";
/// Beyond the entrypoint's own step limits: unpacking, stopping, handing
/// the outputs back.
const RUN_MARGIN: Duration = Duration::from_secs(300);

/// The images of a run, pushed to the registry: datapoint image tags (as the
/// run knows them) and service kinds to the references tasks pull, by digest.
#[derive(Debug, Clone, Default)]
pub struct SwarmImages {
    pub datapoints: HashMap<String, String>,
    pub services: BTreeMap<ServiceKind, String>,
    /// The base image, by digest: agent sandboxes' collector and clean tasks.
    pub base: Option<String>,
}

/// Pods on a swarm. Cheap to clone.
#[derive(Clone)]
pub struct Swarm {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) manager: Manager,
    pub(super) images: SwarmImages,
    places: Mutex<Places>,
}

/// What this run has placed where, and the nodes it lost.
#[derive(Default)]
struct Places {
    placed: HashMap<String, Demand>,
    lost: HashSet<String>,
    /// The hostnames of the lost nodes, for the user.
    lost_names: BTreeMap<String, String>,
}

/// A node's room held for one pod, given back when dropped.
pub(super) struct Reservation {
    inner: Arc<Inner>,
    pub(super) node_id: String,
    pub(super) hostname: String,
    demand: Demand,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut places = self.inner.places.lock().expect("placement lock");
        if let Some(used) = places.placed.get_mut(&self.node_id) {
            used.cpus -= self.demand.cpus;
            used.memory_bytes -= self.demand.memory_bytes;
        }
    }
}

/// Why an attempt ended without a record from the entrypoint.
pub(super) enum Failure {
    Infra(String),
    Lost {
        node_id: String,
        hostname: String,
        why: String,
    },
    Cancelled,
}

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Self {
        Failure::Infra(e.to_string())
    }
}

impl Swarm {
    pub fn new(manager: Manager, images: SwarmImages) -> Swarm {
        Swarm {
            inner: Arc::new(Inner {
                manager,
                images,
                places: Mutex::new(Places::default()),
            }),
        }
    }

    pub fn manager(&self) -> &Manager {
        &self.inner.manager
    }

    /// Nodes this run lost (their trials were retried elsewhere), as
    /// `hostname (id)`.
    pub fn lost_nodes(&self) -> Vec<String> {
        let places = self.inner.places.lock().expect("placement lock");
        places
            .lost_names
            .iter()
            .map(|(id, name)| format!("{name} ({id})"))
            .collect()
    }

    /// Leaves a node out of the rest of the run (its pod was lost there).
    pub(super) fn mark_lost(&self, node_id: String, hostname: String) {
        let mut places = self.inner.places.lock().expect("placement lock");
        places.lost.insert(node_id.clone());
        places.lost_names.insert(node_id, hostname);
    }

    /// Runs one trial on the swarm; whatever happens, its pod is removed.
    pub async fn run_trial(&self, plan: &TrialPlan, kill: &CancellationToken) -> TrialRecord {
        let begin = Instant::now();
        let started_at = jiff::Timestamp::now().to_string();
        let name = pod_name();
        let mut guard = LabelGuard::new(&self.inner.manager, format!("{}={name}", labels::POD));
        guard.keep(plan.keep);
        let mut timings = Timings::default();
        let result = tokio::select! {
            biased;
            _ = kill.cancelled() => Err(Failure::Cancelled),
            r = self.attempt(plan, &name, &mut timings) => r,
        };
        let removal = Instant::now();
        let removed = guard.remove().await;
        let mut record = match result {
            Ok(stdout) => record_from_entrypoint(plan, &stdout),
            Err(failure) => {
                let mut record = begin_record(plan);
                record.earlier_attempts = plan.earlier_attempts.clone();
                let (verdict, error) = match failure {
                    Failure::Cancelled => (Verdict::Cancelled, "interrupted".to_string()),
                    Failure::Infra(why) => (Verdict::InfraError, why),
                    Failure::Lost {
                        node_id,
                        hostname,
                        why,
                    } => {
                        self.mark_lost(node_id, hostname);
                        (Verdict::InfraError, why)
                    }
                };
                record.verdict = verdict;
                record.error = Some(error);
                record
            }
        };
        if let Err(e) = removed {
            tracing::warn!(trial = %plan.key(), "swarm cleanup failed: {e}");
            let note = format!("cleanup failed: {e}");
            record.error = Some(match record.error.take() {
                Some(prev) => format!("{prev}; {note}"),
                None => note,
            });
        }
        timings.patch_ms = record.timings.patch_ms;
        timings.build_ms = record.timings.build_ms;
        timings.test_ms = record.timings.test_ms;
        timings.collect_ms = record.timings.collect_ms;
        timings.pod_waited_ms = timings.pod_ms + timings.ready_ms;
        timings.remove_ms = ms(removal.elapsed());
        timings.total_ms = ms(begin.elapsed());
        record.timings = timings;
        record.started_at = started_at;
        record.finished_at = jiff::Timestamp::now().to_string();
        record
    }

    /// Places the pod, starts its services, runs the entrypoint and returns
    /// what it wrote.
    async fn attempt(
        &self,
        plan: &TrialPlan,
        name: &str,
        timings: &mut Timings,
    ) -> Result<Vec<u8>, Failure> {
        let manager = &self.inner.manager;
        let spec = &plan.datapoint.spec;
        let image = self
            .inner
            .images
            .datapoints
            .get(&plan.image)
            .ok_or_else(|| {
                Failure::Infra(format!(
                    "the image {} was not pushed to the registry",
                    plan.image
                ))
            })?
            .clone();
        let services: Vec<Blueprint> = spec
            .services
            .iter()
            .map(|&kind| Blueprint::new(kind, &spec.kafka.topics))
            .collect();
        let service_mb = plan.pod.service_limits.memory_mb * services.len() as u64;
        let demand = Demand {
            cpus: spec.limits.cpus,
            memory_bytes: ((spec.limits.memory_mb + service_mb) * 1024 * 1024) as i64,
        };
        let placed = Instant::now();
        let node = self.place(demand).await?;
        tracing::debug!(trial = %plan.key(), node = %node.hostname, waited = ?placed.elapsed(), "placed");
        let labels = labels::for_trial(
            &plan.run_id,
            &spec.id,
            &plan.candidate.id,
            plan.trial,
            "trial",
        );
        let pod_spec = SwarmPodSpec {
            name: name.to_string(),
            labels,
            node_id: node.node_id.clone(),
            services,
            images: self.inner.images.services.clone(),
            service_limits: plan.pod.service_limits.clone(),
            ready: plan.pod.ready_timeout,
            pull: PULL_LIMIT,
            egress: false,
        };
        let lost = |outcome: &JobOutcome, what: &str| match outcome {
            JobOutcome::Lost { node_id, reason } => Failure::Lost {
                node_id: node_id.clone(),
                hostname: node.hostname.clone(),
                why: format!("{what} on node {}: {reason}", node.hostname),
            },
            other => Failure::Infra(format!("{what} on node {}: {other:?}", node.hostname)),
        };
        let pod = match pod_spec.start(manager).await {
            Ok(pod) => pod,
            Err(PodStartError::Cluster(e)) => return Err(e.into()),
            Err(e @ PodStartError::Service { .. }) => {
                let PodStartError::Service { outcome, .. } = &e else {
                    unreachable!()
                };
                return Err(lost(outcome, &e.to_string()));
            }
        };
        timings.pod_ms = ms(pod.start);
        timings.ready_ms = ms(pod.ready);

        let env: Vec<(String, String)> = pod_spec
            .services
            .iter()
            .flat_map(|bp| bp.trial_env.iter().cloned())
            .collect();
        let patch_len = plan.patch.as_ref().map(|p| p.len()).unwrap_or(0);
        let mut paths = InputPaths::parts(plan.hidden_tests.len(), patch_len, MAX_INPUT_BYTES);
        if patch_len == 0 {
            // The swarm refuses an empty config: an empty patch (an agent's
            // empty diff) is read from /dev/null, and fails to apply as locally.
            paths.patch = vec![EMPTY_PATCH.to_string()];
        }
        let inputs = entrypoint_inputs(plan, &env, &paths);
        let object_labels = {
            let mut l = pod_spec.labels.clone();
            l.extend(labels::owned("trial-input"));
            l.insert(labels::POD.into(), name.to_string());
            l
        };
        let mut files: Vec<PodInput> = vec![
            (
                InputKind::Config,
                "entrypoint".into(),
                ENTRYPOINT_PATH.into(),
                entrypoint_script().into_bytes(),
                0o555,
            ),
            (
                InputKind::Config,
                "plan".into(),
                PLAN_PATH.into(),
                inputs.plan.clone().into_bytes(),
                0o444,
            ),
        ];
        if let Some(patch) = inputs.patch.as_ref().filter(|p| !p.is_empty()) {
            let parts = split_input(patch.as_bytes(), paths.patch.len());
            for (i, (path, part)) in paths.patch.iter().zip(parts).enumerate() {
                files.push((
                    InputKind::Config,
                    format!("patch-{i}"),
                    path.clone(),
                    part.to_vec(),
                    0o444,
                ));
            }
        }
        let parts = split_input(&inputs.tests, paths.tests.len());
        for (i, (path, part)) in paths.tests.iter().zip(parts).enumerate() {
            let target = path.trim_start_matches("/run/secrets/").to_string();
            files.push((
                InputKind::Secret,
                format!("tests-{i}"),
                target,
                part.to_vec(),
                0o400,
            ));
        }
        let mounts = mount_inputs(manager, name, files, &object_labels).await?;
        let limits = &spec.limits;
        let main = JobSpec {
            name: format!("{name}-main"),
            image,
            args: vec!["sh".into(), ENTRYPOINT_PATH.into()],
            env: BTreeMap::new(),
            labels: {
                let mut l = pod_spec.labels.clone();
                l.extend(labels::owned("trial"));
                l.insert(labels::POD.into(), name.to_string());
                l
            },
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
            // As the local pod's main container: zombies reaped.
            init: true,
            mounts: Vec::new(),
        };
        let started = Instant::now();
        let job = manager.create_job(&main).await?;
        let wait = WaitLimits {
            start: PULL_LIMIT,
            run: run_limit(plan),
            poll: Duration::from_millis(250),
        };
        if let Err(outcome) = manager.wait_running(&job, wait).await? {
            return Err(lost(&outcome, "the trial container did not start"));
        }
        timings.pod_ms += ms(started.elapsed());
        let outcome = manager.wait(&job, wait).await?;
        match outcome {
            JobOutcome::Completed | JobOutcome::Failed { .. } => {}
            JobOutcome::TimedOut => {
                return Err(Failure::Infra(format!(
                    "the trial entrypoint ran past its own limits ({:?}) on node {}",
                    wait.run, node.hostname
                )))
            }
            other => return Err(lost(&other, "the trial container stopped")),
        }
        let logs = manager.job_logs(&job, LOG_CAP).await?;
        if logs.truncated {
            return Err(Failure::Infra(format!(
                "the trial entrypoint wrote more than {} MiB, past its own caps",
                LOG_CAP >> 20
            )));
        }
        Ok(logs.stdout)
    }

    /// A node with room for the pod, held until the reservation is dropped;
    /// waits for one while every node is full.
    pub(super) async fn place(&self, demand: Demand) -> Result<Reservation, Failure> {
        let deadline = Instant::now() + PLACE_LIMIT;
        loop {
            let nodes = self.inner.manager.nodes().await?;
            {
                let mut places = self.inner.places.lock().expect("placement lock");
                if let Some(node) = pick_node(&nodes, demand, &places.placed, &places.lost) {
                    let used = places.placed.entry(node.id.clone()).or_default();
                    *used = *used + demand;
                    return Ok(Reservation {
                        inner: self.inner.clone(),
                        node_id: node.id.clone(),
                        hostname: node.hostname.clone(),
                        demand,
                    });
                }
                let usable = nodes
                    .iter()
                    .filter(|n| n.schedulable() && !places.lost.contains(&n.id))
                    .count();
                if usable == 0 {
                    return Err(Failure::Infra(
                        "no node of the swarm is ready and active (every node is down, drained or lost during this run)".into(),
                    ));
                }
                if nodes
                    .iter()
                    .filter(|n| n.schedulable() && !places.lost.contains(&n.id))
                    .all(|n| n.cpus + 1e-9 < demand.cpus || n.memory_bytes < demand.memory_bytes)
                {
                    return Err(Failure::Infra(format!(
                        "no node of the swarm is big enough for this pod ({} CPUs, {} MiB)",
                        demand.cpus,
                        demand.memory_bytes >> 20
                    )));
                }
            }
            if Instant::now() >= deadline {
                return Err(Failure::Infra(format!(
                    "no node had room for this pod ({} CPUs, {} MiB) for {} s",
                    demand.cpus,
                    demand.memory_bytes >> 20,
                    PLACE_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The longest a trial's main job can run when every step takes its limit.
/// One input of a pod's main task: its kind, a short name (the object is
/// named `<pod>-<name>`), where it is mounted, its bytes and its mode.
pub(super) type PodInput = (InputKind, String, String, Vec<u8>, u32);

/// Makes each input on the swarm under `labels`, and its mount: root's, with
/// the input's mode.
pub(super) async fn mount_inputs(
    manager: &Manager,
    pod: &str,
    inputs: Vec<PodInput>,
    labels: &HashMap<String, String>,
) -> Result<Vec<InputMount>, ClusterError> {
    let mut mounts = Vec::with_capacity(inputs.len());
    for (kind, what, target, data, mode) in inputs {
        let input = manager
            .create_input(kind, &format!("{pod}-{what}"), &data, labels)
            .await?;
        mounts.push(InputMount {
            input,
            target,
            uid: 0,
            gid: 0,
            mode,
        });
    }
    Ok(mounts)
}

fn run_limit(plan: &TrialPlan) -> Duration {
    let spec = &plan.datapoint.spec;
    let build = spec.build.as_ref().map(|b| b.timeout_secs).unwrap_or(0);
    Duration::from_secs(120 + build + spec.test.timeout_secs) + RUN_MARGIN
}

/// A name for a pod's swarm objects: short (service names are DNS labels of
/// at most 63 characters, and get a `-postgres` suffix) and fresh per
/// attempt. What the pod is lives in its labels.
pub(super) fn pod_name() -> String {
    format!("rb-{}", &crate::pod::secret()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_short_fresh_dns_labels() {
        let (a, b) = (pod_name(), pod_name());
        assert_ne!(a, b);
        assert!(a.len() + "-postgres".len() <= 63, "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}
