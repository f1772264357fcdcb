//! A pod on a swarm: its internal overlay network, one job per service (the
//! local readiness probe as its health check, so `running` means ready), and
//! the main job, all pinned to one node and carrying one pod label, so one
//! [`LabelGuard`](super::LabelGuard) of [`SwarmPodSpec::pod_label`], made by
//! the caller before the pod, removes them together.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use racebench_model::ServiceKind;

use super::error::ClusterError;
use super::job::{HealthProbe, Job, JobLimits, JobSpec};
use super::manager::Manager;
use super::network::PodNetwork;
use super::outcome::{JobOutcome, WaitLimits};
use crate::labels;
use crate::pod::{Blueprint, ServiceLimits};

/// Where a service's probe marks that it passed once: the probe may create
/// things (topics) and must not run again after the service was ready.
const READY_MARK: &str = "/tmp/.racebench-ready";

/// What the pod is made of, before it is started.
#[derive(Debug, Clone)]
pub struct SwarmPodSpec {
    /// Short and unique in the swarm (service names are DNS labels, at most 63
    /// characters): every object's name starts with it.
    pub name: String,
    /// Labels of every object (run, datapoint, candidate, trial).
    pub labels: HashMap<String, String>,
    pub node_id: String,
    pub services: Vec<Blueprint>,
    /// The image each service kind runs, by digest.
    pub images: BTreeMap<ServiceKind, String>,
    pub service_limits: ServiceLimits,
    /// How long the services may take to get healthy once running (the
    /// image pull comes on top, within `pull`).
    pub ready: Duration,
    /// How long a task may take to start (the image pull on a node that does
    /// not have it yet).
    pub pull: Duration,
    /// A network with a route off the node (an agent sandbox with egress);
    /// trials' pods never have one.
    pub egress: bool,
}

/// A pod's network and services on the swarm, ready.
#[derive(Debug)]
pub struct SwarmPod {
    pub network: PodNetwork,
    pub services: Vec<Job>,
    /// Network created and every service task placed and started.
    pub start: Duration,
    /// Until every service's health check passed.
    pub ready: Duration,
}

/// Why a pod's services did not get ready.
#[derive(Debug)]
pub enum PodStartError {
    /// The manager refused or failed a call.
    Cluster(ClusterError),
    /// A service's task ended or never became healthy (node lost, image
    /// missing, probe never passing).
    Service {
        kind: ServiceKind,
        outcome: JobOutcome,
        log_tail: String,
    },
}

impl std::fmt::Display for PodStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodStartError::Cluster(e) => write!(f, "{e}"),
            PodStartError::Service {
                kind,
                outcome,
                log_tail,
            } => {
                write!(f, "the pod's {kind} service did not get ready: {outcome:?}")?;
                if !log_tail.trim().is_empty() {
                    write!(f, "; its last output: {}", log_tail.trim())?;
                }
                Ok(())
            }
        }
    }
}

impl From<ClusterError> for PodStartError {
    fn from(e: ClusterError) -> Self {
        PodStartError::Cluster(e)
    }
}

impl SwarmPodSpec {
    /// The label every object of this pod carries, which its guard removes by.
    pub fn pod_label(&self) -> String {
        format!("{}={}", labels::POD, self.name)
    }

    fn object_labels(&self, role: &str, service: Option<ServiceKind>) -> HashMap<String, String> {
        let mut l = self.labels.clone();
        l.extend(labels::owned(role));
        l.insert(labels::POD.into(), self.name.clone());
        if let Some(kind) = service {
            l.insert(labels::SERVICE.into(), kind.as_str().into());
        }
        l
    }

    /// The job of one service: its image, environment and alias, its probe
    /// as the health check (passing once), every capability dropped, as in a
    /// local pod.
    pub fn service_job(&self, bp: &Blueprint, network: &str) -> Result<JobSpec, ClusterError> {
        let image = self
            .images
            .get(&bp.kind)
            .ok_or_else(|| ClusterError::Operation {
                action: format!("start the {} service", bp.kind),
                message: "no image was pushed for it".into(),
            })?;
        Ok(JobSpec {
            name: format!("{}-{}", self.name, bp.kind),
            image: image.clone(),
            args: Vec::new(),
            env: bp.container_env.iter().cloned().collect(),
            labels: self.object_labels("service", Some(bp.kind)),
            node_id: self.node_id.clone(),
            limits: JobLimits {
                cpus: 0.0,
                memory_mb: self.service_limits.memory_mb,
                pids: self.service_limits.pids.max(0) as u64,
            },
            network: Some((network.to_string(), vec![bp.alias().to_string()])),
            capabilities: Some(Vec::new()),
            user: None,
            stop_grace: Duration::from_secs(1),
            inputs: Vec::new(),
            health: Some(HealthProbe {
                shell: once(&bp.probe),
                interval: Duration::from_millis(250),
                timeout: self.ready,
                grace: self.ready,
            }),
            init: false,
            mounts: Vec::new(),
        })
    }

    /// Creates the network and the service jobs, and waits until every
    /// service is healthy. What was made, on success or not, carries the pod
    /// label, for the caller's guard to remove.
    pub async fn start(&self, manager: &Manager) -> Result<SwarmPod, PodStartError> {
        let started = Instant::now();
        let network = manager
            .create_overlay(
                &format!("{}-net", self.name),
                &self.object_labels("trial-network", None),
                !self.egress,
            )
            .await?;
        let specs = self
            .services
            .iter()
            .map(|bp| self.service_job(bp, &network.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut services = Vec::new();
        for spec in &specs {
            services.push(manager.create_job(spec).await?);
        }
        let start = started.elapsed();
        let limits = WaitLimits {
            start: self.pull + self.ready,
            run: Duration::ZERO,
            poll: Duration::from_millis(250),
        };
        let waits = services.iter().map(|job| manager.wait_running(job, limits));
        for ((result, job), bp) in join_all(waits)
            .await
            .into_iter()
            .zip(&services)
            .zip(&self.services)
        {
            if let Err(outcome) = result? {
                let log_tail = manager
                    .job_logs(job, 64 * 1024)
                    .await
                    .map(|l| tail(&l.stderr, &l.stdout))
                    .unwrap_or_default();
                return Err(PodStartError::Service {
                    kind: bp.kind,
                    outcome,
                    log_tail,
                });
            }
        }
        Ok(SwarmPod {
            network,
            services,
            start,
            ready: started.elapsed() - start,
        })
    }
}

/// The probe (an argument vector) as a health check's shell command that
/// passes for good once it passed: `test -e MARK || { PROBE && touch MARK; }`.
fn once(probe: &[String]) -> String {
    let words: Vec<String> = probe.iter().map(|w| quote(w)).collect();
    format!(
        "test -e {READY_MARK} || {{ {} && touch {READY_MARK}; }}",
        words.join(" ")
    )
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The last lines of a service's output, for an error message.
fn tail(stderr: &[u8], stdout: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(stderr));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn spec() -> SwarmPodSpec {
        SwarmPodSpec {
            name: "rb-abc".into(),
            labels: HashMap::from([(labels::RUN.to_string(), "run1".to_string())]),
            node_id: "n1".into(),
            services: vec![Blueprint::new(ServiceKind::Postgres, &[])],
            images: BTreeMap::from([(ServiceKind::Postgres, "reg/pg@sha256:1".to_string())]),
            service_limits: ServiceLimits::default(),
            ready: Duration::from_secs(60),
            pull: Duration::from_secs(300),
            egress: false,
        }
    }

    #[test]
    fn a_service_job_is_the_local_service_pinned_with_its_alias_and_probe() {
        let s = spec();
        let job = s.service_job(&s.services[0], "rb-abc-net").unwrap();
        assert_eq!(job.name, "rb-abc-postgres");
        assert_eq!(job.image, "reg/pg@sha256:1");
        assert_eq!(job.node_id, "n1");
        assert_eq!(
            job.network,
            Some(("rb-abc-net".to_string(), vec!["postgres".to_string()]))
        );
        assert_eq!(job.capabilities, Some(Vec::new()));
        assert!(job.env.contains_key("POSTGRES_PASSWORD"));
        assert_eq!(
            job.labels.get(labels::POD).map(String::as_str),
            Some("rb-abc")
        );
        assert_eq!(
            job.labels.get(labels::RUN).map(String::as_str),
            Some("run1")
        );
        assert_eq!(
            job.labels.get(labels::SERVICE).map(String::as_str),
            Some("postgres")
        );
        let health = job.health.unwrap();
        assert!(health.shell.contains("psql"), "{}", health.shell);
        assert_eq!(health.grace, Duration::from_secs(60));
        assert_eq!(s.pod_label(), "org.racebench.pod=rb-abc");
    }

    #[test]
    fn a_service_without_a_pushed_image_is_refused() {
        let mut s = spec();
        s.images.clear();
        let err = s.service_job(&s.services[0], "net").unwrap_err();
        assert!(err.to_string().contains("no image was pushed"), "{err}");
    }

    #[test]
    fn the_health_check_runs_the_probe_until_it_passed_once() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let probe = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo x >>\"$1\"; [ $(wc -l <\"$1\") -ge 2 ]".to_string(),
            "sh".to_string(),
            count.display().to_string(),
        ];
        let check =
            once(&probe).replace(READY_MARK, &dir.path().join("mark").display().to_string());
        let run = || {
            Command::new("sh")
                .arg("-c")
                .arg(&check)
                .status()
                .unwrap()
                .success()
        };
        assert!(!run(), "the first run fails");
        assert!(run(), "the second passes");
        assert!(run(), "and it stays passed");
        let runs = std::fs::read_to_string(&count).unwrap().lines().count();
        assert_eq!(runs, 2, "the probe is not run again once it passed");
    }
}
