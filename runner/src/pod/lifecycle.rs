//! The pod guard: [`Pod::start`] creates the network and every container at
//! once, [`Pod::ready`] waits for each service's probe from inside the pod,
//! [`Pod::remove`] removes everything. A pod that failed to start has removed
//! what it made; one dropped without `remove` is removed by its guards.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use racebench_model::{ServiceKind, TopicSpec};

use super::error::PodError;
use super::service::{Blueprint, ServiceImages, ServiceLimits};
use crate::engine::{ContainerLimits, ContainerSpec, Engine, EngineError, NetworkIsolation};
use crate::guard::{ContainerGuard, NetworkGuard};
use crate::labels;

/// The capabilities root keeps in a trial's main container.
pub const MAIN_CAPS: [&str; 6] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETUID",
    "SETGID",
    "KILL",
];

/// The container the trial's steps (or an agent) run in.
#[derive(Debug, Clone)]
pub struct MainContainer {
    pub image: String,
    /// Its own environment; the services' variables are added to it.
    pub env: Vec<(String, String)>,
    pub limits: ContainerLimits,
    pub cmd: Vec<String>,
    pub hostname: String,
}

/// Everything a pod is made of.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// Unique name of the pod: its network, its main container, and
    /// `<name>-<kind>` for its services.
    pub name: String,
    /// Labels of every object of the pod (run, datapoint, candidate, trial);
    /// each object adds its role.
    pub labels: HashMap<String, String>,
    pub main: MainContainer,
    /// The services run inside the pod.
    pub services: Vec<ServiceKind>,
    pub topics: Vec<TopicSpec>,
    pub images: ServiceImages,
    pub service_limits: ServiceLimits,
    /// `Contained` unless an external service needs a route off the host.
    pub isolation: NetworkIsolation,
}

/// Where a pod's start-up time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodTimings {
    /// Network and every container created and started.
    pub start: Duration,
    /// Until every service answered its probe.
    pub ready: Duration,
}

/// A running pod.
#[derive(Debug)]
pub struct Pod {
    engine: Engine,
    name: String,
    network: Option<NetworkGuard>,
    main: Option<ContainerGuard>,
    services: Vec<(Blueprint, ContainerGuard)>,
    env: Vec<(String, String)>,
    keep: bool,
    pub timings: PodTimings,
}

impl Pod {
    /// Creates the network, then the main container and every service
    /// container at once, and starts them.
    pub async fn start(engine: &Engine, spec: &PodSpec) -> Result<Pod, PodError> {
        let started = Instant::now();
        let fail = |source: EngineError| PodError::Start {
            pod: spec.name.clone(),
            source,
        };
        let network = NetworkGuard::create(
            engine,
            &spec.name,
            spec.isolation,
            object_labels(spec, "trial-network", None),
        )
        .await
        .map_err(fail)?;
        let blueprints: Vec<Blueprint> = spec
            .services
            .iter()
            .map(|&kind| Blueprint::new(kind, &spec.topics))
            .collect();
        let mut env = spec.main.env.clone();
        for bp in &blueprints {
            env.extend(bp.trial_env.iter().cloned());
        }
        let main_spec = ContainerSpec {
            name: Some(spec.name.clone()),
            image: spec.main.image.clone(),
            cmd: spec.main.cmd.clone(),
            entrypoint: Some(Vec::new()),
            env: env.clone(),
            labels: object_labels(spec, "trial", None),
            limits: spec.main.limits.clone(),
            network: Some(network.name().to_string()),
            aliases: Vec::new(),
            publish_loopback: Vec::new(),
            hardened: true,
            // Root in the main container is the verifier: it hands the work
            // tree to the candidate's user (CHOWN, FOWNER), drops to it
            // (SETUID, SETGID), reads and signals what it runs (DAC_OVERRIDE,
            // KILL). The candidate's processes have none of these.
            keep_caps: MAIN_CAPS.iter().map(|c| c.to_string()).collect(),
            hostname: Some(spec.main.hostname.clone()),
        };
        let mut service_specs = Vec::new();
        for bp in &blueprints {
            let Some(image) = spec.images.get(&bp.kind) else {
                return Err(fail(EngineError::Operation {
                    action: format!("find the {} image", bp.kind),
                    message: "no image was prepared for it".into(),
                }));
            };
            service_specs.push(ContainerSpec {
                name: Some(format!("{}-{}", spec.name, bp.kind)),
                image: image.clone(),
                cmd: Vec::new(),
                entrypoint: None,
                env: bp.container_env.clone(),
                labels: object_labels(spec, "service", Some(bp.kind)),
                limits: spec.service_limits.container(),
                network: Some(network.name().to_string()),
                aliases: vec![bp.alias().to_string()],
                publish_loopback: Vec::new(),
                hardened: true,
                keep_caps: Vec::new(),
                hostname: Some(bp.alias().to_string()),
            });
        }
        let (main, services) = tokio::join!(
            create_started(engine, &main_spec),
            join_all(service_specs.iter().map(|s| create_started(engine, s)))
        );
        let mut pod = Pod {
            engine: engine.clone(),
            name: spec.name.clone(),
            network: Some(network),
            main: None,
            services: Vec::new(),
            env,
            keep: false,
            timings: PodTimings::default(),
        };
        let mut first_error = None;
        match main {
            (guard, Ok(())) => pod.main = guard,
            (guard, Err(e)) => {
                pod.main = guard;
                first_error = Some(e);
            }
        }
        for (bp, (guard, result)) in blueprints.into_iter().zip(services) {
            if let Some(guard) = guard {
                pod.services.push((bp, guard));
            }
            if let Err(e) = result {
                first_error = first_error.or(Some(e));
            }
        }
        if let Some(e) = first_error {
            if let Err(cleanup) = pod.remove().await {
                tracing::warn!("{cleanup}");
            }
            return Err(fail(e));
        }
        pod.timings.start = started.elapsed();
        Ok(pod)
    }

    /// Waits until every service answers its probe, run inside its own
    /// container, all at once, within `deadline`.
    pub async fn ready(&mut self, deadline: Duration) -> Result<(), PodError> {
        let started = Instant::now();
        let engine = &self.engine;
        let pod = self.name.as_str();
        let probes = self.services.iter().map(|(bp, guard)| async move {
            let probe = engine.exec(guard.id(), &bp.probe, &[], None);
            let reason = match tokio::time::timeout(deadline, probe).await {
                Ok(Ok(out)) if out.exit_code == Some(0) => return Ok(()),
                Ok(Ok(out)) => format!(
                    "its probe exited with {:?}: {}",
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "its probe got no answer".to_string(),
            };
            let log_tail = engine
                .container_logs(guard.id(), 20)
                .await
                .unwrap_or_else(|e| format!("(no log: {e})"));
            Err(PodError::NotReady {
                pod: pod.to_string(),
                kind: bp.kind,
                waited_secs: started.elapsed().as_secs(),
                reason,
                log_tail,
            })
        });
        for result in join_all(probes).await {
            result?;
        }
        self.timings.ready = started.elapsed();
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the main container.
    pub fn main_id(&self) -> &str {
        self.main.as_ref().map(|g| g.id()).unwrap_or_default()
    }

    /// The main container's environment: its own and the services'.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The id of a service's container.
    pub fn service_id(&self, kind: ServiceKind) -> Option<&str> {
        self.services
            .iter()
            .find(|(bp, _)| bp.kind == kind)
            .map(|(_, g)| g.id())
    }

    /// Leave everything in place for debugging (`--keep`).
    pub fn keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Removes every container at once, then the network. Every removal is
    /// tried; the failures are reported together.
    pub async fn remove(mut self) -> Result<(), PodError> {
        let keep = self.keep;
        let mut guards: Vec<ContainerGuard> = self.main.take().into_iter().collect();
        guards.extend(self.services.drain(..).map(|(_, g)| g));
        let removals = guards.into_iter().map(|mut g| {
            g.keep(keep);
            g.remove()
        });
        let mut errors: Vec<String> = join_all(removals)
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
        if let Some(mut network) = self.network.take() {
            network.keep(keep);
            if let Err(e) = network.remove().await {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PodError::Remove {
                pod: self.name.clone(),
                message: errors.join("; "),
            })
        }
    }
}

/// Creates and starts one container; the guard is returned even when the
/// start fails, so it is removed with the pod.
async fn create_started(
    engine: &Engine,
    spec: &ContainerSpec,
) -> (Option<ContainerGuard>, Result<(), EngineError>) {
    match ContainerGuard::create(engine, spec).await {
        Ok(guard) => {
            let started = engine.start_container(guard.id()).await;
            (Some(guard), started)
        }
        Err(e) => (None, Err(e)),
    }
}

fn object_labels(
    spec: &PodSpec,
    role: &str,
    service: Option<ServiceKind>,
) -> HashMap<String, String> {
    let mut labels = spec.labels.clone();
    labels.extend(labels::owned(role));
    labels.insert(labels::POD.into(), spec.name.clone());
    if let Some(kind) = service {
        labels.insert(labels::SERVICE.into(), kind.as_str().into());
    }
    labels
}
