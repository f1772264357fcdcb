//! One container of a pod as a swarm service: one replica, never restarted,
//! pinned to the node the caller picked, with the pod's limits reserved so the
//! scheduler never overcommits a node.
//!
//! Not `replicated-job`: on Docker 20.10 removing a job service leaves its task
//! (and a running container) behind on the node (moby#44312, seen on the test
//! swarm). A `replicated` service with restart condition `none` ends the same
//! way (task `complete` or `failed`) and is removed cleanly.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountType,
    NetworkAttachmentConfig, ResourceObject, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::UpdateServiceOptionsBuilder;

use super::error::ClusterError;
use super::input::InputMount;
use super::manager::Manager;

/// Resource limits of one container, also reserved on its node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobLimits {
    pub cpus: f64,
    pub memory_mb: u64,
    pub pids: u64,
}

/// A readiness probe run inside the container by its engine: until it passes,
/// the swarm keeps the task `starting`, so `running` means ready. For a pod's
/// services this is the probe the local pod runs by `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProbe {
    /// A shell command; exit 0 means ready.
    pub shell: String,
    pub interval: Duration,
    /// How long one run of the probe may take (a probe that loops until the
    /// service answers needs more than the interval).
    pub timeout: Duration,
    /// How long a failing probe is forgiven after start.
    pub grace: Duration,
}

/// A folder of the node bind-mounted into the container. It must exist on
/// the node when the task starts (the engine refuses a missing source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// An absolute path on the node.
    pub source: String,
    /// An absolute path in the container.
    pub target: String,
    pub read_only: bool,
}

/// What to run, where, and how it is contained.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The service's name, unique in the swarm.
    pub name: String,
    /// The image, by digest (`HOST:PORT/repo@sha256:...`), so every node runs
    /// the same bytes.
    pub image: String,
    /// Arguments to the image's entrypoint; empty keeps the image's command.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: HashMap<String, String>,
    /// The node (its swarm id) the task must run on.
    pub node_id: String,
    pub limits: JobLimits,
    /// The pod network to join, and this container's aliases on it.
    pub network: Option<(String, Vec<String>)>,
    /// `Some(kept)`: drop every capability but these; `None`: the engine's default set.
    pub capabilities: Option<Vec<String>>,
    pub user: Option<String>,
    /// Between SIGTERM and SIGKILL when the task is stopped.
    pub stop_grace: Duration,
    /// Secrets and configs mounted into the container.
    pub inputs: Vec<InputMount>,
    pub health: Option<HealthProbe>,
    /// An init as PID 1 that reaps orphaned processes, as in a local pod's
    /// containers (the stop script counts every process but zombies).
    pub init: bool,
    /// Folders of the node mounted into the container.
    pub mounts: Vec<BindMount>,
}

/// A created job: the service and where it was pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub node_id: String,
}

impl JobSpec {
    /// The service spec this job is created from.
    pub(crate) fn service_spec(&self) -> ServiceSpec {
        let nano_cpus = (self.limits.cpus * 1e9).round() as i64;
        let memory_bytes = (self.limits.memory_mb * 1024 * 1024) as i64;
        let (capability_add, capability_drop) = match &self.capabilities {
            Some(kept) => (Some(kept.clone()), Some(vec!["ALL".to_string()])),
            None => (None, None),
        };
        let container = TaskSpecContainerSpec {
            image: Some(self.image.clone()),
            labels: Some(self.labels.clone()),
            args: (!self.args.is_empty()).then(|| self.args.clone()),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: self.user.clone(),
            init: Some(self.init),
            stop_grace_period: Some(self.stop_grace.as_nanos() as i64),
            capability_add,
            capability_drop,
            secrets: Some(
                self.inputs
                    .iter()
                    .filter_map(InputMount::secret_ref)
                    .collect(),
            ),
            configs: Some(
                self.inputs
                    .iter()
                    .filter_map(InputMount::config_ref)
                    .collect(),
            ),
            mounts: (!self.mounts.is_empty()).then(|| {
                self.mounts
                    .iter()
                    .map(|m| Mount {
                        target: Some(m.target.clone()),
                        source: Some(m.source.clone()),
                        typ: Some(MountType::BIND),
                        read_only: Some(m.read_only),
                        ..Default::default()
                    })
                    .collect()
            }),
            health_check: self.health.as_ref().map(|h| HealthConfig {
                test: Some(vec!["CMD-SHELL".into(), h.shell.clone()]),
                interval: Some(h.interval.as_nanos() as i64),
                timeout: Some(h.timeout.max(Duration::from_secs(1)).as_nanos() as i64),
                start_period: Some(h.grace.as_nanos() as i64),
                retries: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        };
        let task = TaskSpec {
            container_spec: Some(container),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(nano_cpus),
                    memory_bytes: Some(memory_bytes),
                    pids: Some(self.limits.pids as i64),
                }),
                reservations: Some(ResourceObject {
                    nano_cpus: Some(nano_cpus),
                    memory_bytes: Some(memory_bytes),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                max_attempts: Some(0),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", self.node_id)]),
                ..Default::default()
            }),
            networks: self.network.as_ref().map(|(target, aliases)| {
                vec![NetworkAttachmentConfig {
                    target: Some(target.clone()),
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        };
        ServiceSpec {
            name: Some(self.name.clone()),
            labels: Some(self.labels.clone()),
            task_template: Some(task),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            // Names resolve to the task's own address: no virtual IP, which
            // needs IPVS on every node and buys nothing for one replica.
            endpoint_spec: Some(EndpointSpec {
                mode: Some(EndpointSpecModeEnum::DNSRR),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl Manager {
    /// Creates the job's service; the swarm starts its task on the pinned node.
    pub async fn create_job(&self, spec: &JobSpec) -> Result<Job, ClusterError> {
        let created = self
            .docker()
            .create_service(spec.service_spec(), None)
            .await
            .map_err(|e| ClusterError::op(format!("create swarm service {}", spec.name), e))?;
        let id = created.id.ok_or_else(|| ClusterError::Operation {
            action: format!("create swarm service {}", spec.name),
            message: "the manager returned no id".into(),
        })?;
        tracing::debug!(service = %spec.name, %id, node = %spec.node_id, "created job");
        Ok(Job {
            id,
            name: spec.name.clone(),
            node_id: spec.node_id.clone(),
        })
    }

    /// Stops the job's task without removing the service: the service is
    /// scaled to no replica, and the node stops the container (SIGTERM, then
    /// SIGKILL after the stop grace) and reports the task `shutdown` only once
    /// the container has stopped, which [`Manager::wait_stopped`] waits for.
    pub async fn stop_job(&self, job: &Job) -> Result<(), ClusterError> {
        let action = || format!("stop the task of swarm service {}", job.name);
        let service = self
            .docker()
            .inspect_service(&job.id, None)
            .await
            .map_err(|e| ClusterError::op(action(), e))?;
        let version =
            service
                .version
                .and_then(|v| v.index)
                .ok_or_else(|| ClusterError::Operation {
                    action: action(),
                    message: "the manager returned no service version".into(),
                })?;
        let mut spec = service.spec.unwrap_or_default();
        spec.mode = Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(0) }),
            ..Default::default()
        });
        let options = UpdateServiceOptionsBuilder::new()
            .version(version as i32)
            .build();
        self.docker()
            .update_service(&job.id, spec, options, None)
            .await
            .map_err(|e| ClusterError::op(action(), e))?;
        Ok(())
    }

    /// Removes the job's service (the swarm stops and removes its task). Gone already is fine.
    pub async fn remove_job(&self, job: &Job) -> Result<(), ClusterError> {
        match self.docker().delete_service(&job.id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = ClusterError::op(format!("remove swarm service {}", job.name), e);
                if err.is_not_found() {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            name: "rb-run-dp-cand-1-main".into(),
            image: "10.213.0.1:5000/racebench/dp@sha256:abc".into(),
            args: vec!["/racebench/bin/trial".into()],
            env: BTreeMap::from([("A".into(), "1".into())]),
            labels: HashMap::from([("org.racebench.run".into(), "run".into())]),
            node_id: "node7".into(),
            limits: JobLimits {
                cpus: 1.5,
                memory_mb: 512,
                pids: 256,
            },
            network: Some(("rb-net".into(), vec!["trial".into()])),
            capabilities: Some(vec!["CHOWN".into()]),
            user: None,
            stop_grace: Duration::from_secs(2),
            inputs: Vec::new(),
            health: Some(HealthProbe {
                shell: "pg_isready".into(),
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(5),
                grace: Duration::from_secs(60),
            }),
            init: true,
            mounts: vec![BindMount {
                source: "/var/tmp/rb/work".into(),
                target: "/work/src".into(),
                read_only: true,
            }],
        }
    }

    #[test]
    fn a_job_is_one_replica_never_restarted_pinned_to_its_node_with_its_limits_reserved() {
        let s = spec().service_spec();
        let mode = s.mode.unwrap();
        assert_eq!(mode.replicated.unwrap().replicas, Some(1));
        assert!(
            mode.replicated_job.is_none(),
            "job mode leaks tasks on 20.10"
        );
        let task = s.task_template.unwrap();
        assert_eq!(
            task.restart_policy.unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        assert_eq!(
            task.placement.unwrap().constraints.unwrap(),
            vec!["node.id==node7".to_string()]
        );
        let res = task.resources.unwrap();
        let limits = res.limits.unwrap();
        assert_eq!(limits.nano_cpus, Some(1_500_000_000));
        assert_eq!(limits.memory_bytes, Some(512 * 1024 * 1024));
        assert_eq!(limits.pids, Some(256));
        let reserved = res.reservations.unwrap();
        assert_eq!(reserved.nano_cpus, limits.nano_cpus);
        assert_eq!(reserved.memory_bytes, limits.memory_bytes);
        let c = task.container_spec.unwrap();
        assert_eq!(c.capability_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(c.capability_add, Some(vec!["CHOWN".to_string()]));
        assert_eq!(c.env, Some(vec!["A=1".to_string()]));
        assert_eq!(c.stop_grace_period, Some(2_000_000_000));
        assert_eq!(c.init, Some(true));
        let mount = &c.mounts.as_ref().unwrap()[0];
        assert_eq!(mount.typ, Some(MountType::BIND));
        assert_eq!(
            (mount.source.as_deref(), mount.target.as_deref()),
            (Some("/var/tmp/rb/work"), Some("/work/src"))
        );
        assert_eq!(mount.read_only, Some(true));
        let net = &task.networks.unwrap()[0];
        assert_eq!(net.aliases, Some(vec!["trial".to_string()]));
        assert_eq!(
            s.endpoint_spec.unwrap().mode,
            Some(EndpointSpecModeEnum::DNSRR)
        );
        let health = c.health_check.unwrap();
        assert_eq!(
            health.test,
            Some(vec!["CMD-SHELL".to_string(), "pg_isready".to_string()])
        );
        assert_eq!(health.interval, Some(500_000_000));
        assert_eq!(health.start_period, Some(60_000_000_000));
        assert_eq!(
            s.labels
                .unwrap()
                .get("org.racebench.run")
                .map(String::as_str),
            Some("run")
        );
    }

    #[test]
    fn default_capabilities_and_command_are_left_to_the_image() {
        let mut j = spec();
        j.capabilities = None;
        j.args.clear();
        j.mounts.clear();
        let c = j
            .service_spec()
            .task_template
            .unwrap()
            .container_spec
            .unwrap();
        assert!(c.capability_drop.is_none() && c.capability_add.is_none());
        assert!(c.args.is_none());
        assert!(c.mounts.is_none());
    }
}
