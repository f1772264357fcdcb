//! Setting up: the pod (main container and services at once), its services
//! made ready, and resources on external servers when some are used. The pod
//! can be prepared ahead of the trial ([`prepare_pod`]), while earlier trials
//! run, so its start-up is off the trial's critical path.

use std::time::{Duration, Instant};

use racebench_model::{ServiceKind, TrialRecord};
use tokio_util::sync::CancellationToken;

use super::exec::Stop;
use super::plan::TrialPlan;
use super::provision::Provision;
use super::steps::{ms, pod_name, Trial, OUT_DIR, TESTS_DIR};
use crate::engine::{ContainerLimits, Engine, NetworkIsolation};
use crate::labels;
use crate::pod::{MainContainer, Pod, PodSpec};

/// A trial's pod, started and ready (or why not), with how long that took.
pub struct PreparedPod {
    result: Result<Pod, String>,
    start: Duration,
    ready: Duration,
}

impl PreparedPod {
    /// The pod, for a caller that drives it itself (the trial entrypoint's
    /// tests), or why it did not start.
    pub fn into_pod(self) -> Result<Pod, String> {
        self.result
    }

    /// Removes the pod of a trial that will not run (an interrupted run).
    pub async fn discard(self) {
        if let Ok(pod) = self.result {
            if let Err(e) = pod.remove().await {
                tracing::warn!("{e}");
            }
        }
    }
}

/// The kinds a trial's datapoint takes from external servers.
fn external_kinds(plan: &TrialPlan) -> Vec<ServiceKind> {
    plan.datapoint
        .spec
        .services
        .iter()
        .copied()
        .filter(|k| plan.pod.external.contains(k))
        .collect()
}

/// Starts a trial's pod and waits until its services are ready. A pod that
/// does not get ready is removed again.
pub async fn prepare_pod(engine: &Engine, plan: &TrialPlan) -> PreparedPod {
    let spec = &plan.datapoint.spec;
    let key = plan.key();
    let external = external_kinds(plan);
    let pod_spec = PodSpec {
        name: pod_name(&key),
        labels: {
            let mut labels = labels::for_trial(
                &key.run_id,
                &key.datapoint,
                &key.candidate,
                key.trial,
                "trial",
            );
            if plan.keep {
                labels.insert(labels::KEEP.into(), "true".into());
            }
            labels
        },
        main: MainContainer {
            image: plan.image.clone(),
            env: base_env(plan),
            limits: ContainerLimits::from(&spec.limits),
            cmd: vec!["sleep".into(), "infinity".into()],
            hostname: "trial".into(),
        },
        services: spec
            .services
            .iter()
            .copied()
            .filter(|k| !external.contains(k))
            .collect(),
        topics: spec.kafka.topics.clone(),
        images: plan.pod.images.clone(),
        service_limits: plan.pod.service_limits.clone(),
        // External servers are reachable only with a route off the host.
        isolation: if external.is_empty() {
            NetworkIsolation::Contained
        } else {
            NetworkIsolation::Open
        },
    };
    let t = Instant::now();
    let mut pod = match Pod::start(engine, &pod_spec).await {
        Ok(pod) => pod,
        Err(e) => {
            return PreparedPod {
                result: Err(e.to_string()),
                start: t.elapsed(),
                ready: Duration::ZERO,
            }
        }
    };
    let start = t.elapsed();
    let t = Instant::now();
    let result = match pod.ready(plan.pod.ready_timeout).await {
        Ok(()) => Ok(pod),
        Err(e) => {
            if let Err(cleanup) = pod.remove().await {
                tracing::warn!("{cleanup}");
            }
            Err(e.to_string())
        }
    };
    PreparedPod {
        result,
        start,
        ready: t.elapsed(),
    }
}

impl Trial<'_> {
    pub(super) async fn setup(
        &mut self,
        external: Option<&dyn Provision>,
        prepared: Option<PreparedPod>,
        record: &mut TrialRecord,
        kill: &CancellationToken,
    ) -> Result<(), Stop> {
        let plan = self.plan;
        let spec = &plan.datapoint.spec;
        let key = plan.key();
        let external_kinds = external_kinds(plan);
        let waited = Instant::now();
        let lease = async {
            match (external_kinds.is_empty(), external) {
                (true, _) => Ok(None),
                (false, Some(provider)) => provider
                    .provision(&key, spec)
                    .await
                    .map(Some)
                    .map_err(Stop::infra),
                (false, None) => Err(Stop::infra(format!(
                    "datapoint {} uses external services ({}) but none were configured",
                    spec.id,
                    external_kinds
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        };
        // A pod being prepared is awaited even when the run is killed (it is
        // bounded by the readiness deadline), so it is removed, not leaked.
        let pod = async {
            match prepared {
                Some(prepared) => prepared,
                None => prepare_pod(self.engine, plan).await,
            }
        };
        let (prepared, lease) = tokio::join!(pod, lease);
        record.timings.pod_ms = ms(prepared.start);
        record.timings.ready_ms = ms(prepared.ready);
        record.timings.pod_waited_ms = ms(waited.elapsed());
        if let Ok(Some(lease)) = &lease {
            self.env.extend(lease.env());
        }
        let pod_error = match prepared.result {
            Ok(pod) => {
                self.env.splice(0..0, pod.env().iter().cloned());
                self.pod = Some(pod);
                None
            }
            Err(e) => Some(e),
        };
        // Kept even when the pod failed, so that it is released.
        match lease {
            Ok(Some(lease)) => self.lease = Some(lease),
            Ok(None) => {}
            Err(stop) => return Err(stop),
        }
        if let Some(e) = pod_error {
            return Err(Stop::infra(e));
        }
        if kill.is_cancelled() {
            return Err(Stop::cancelled());
        }
        Ok(())
    }
}

/// The environment every step of a trial gets (services add theirs).
pub(super) fn base_env(plan: &TrialPlan) -> Vec<(String, String)> {
    let spec = &plan.datapoint.spec;
    vec![
        ("RACEBENCH_RUN_ID".into(), plan.run_id.clone()),
        ("RACEBENCH_DATAPOINT".into(), spec.id.clone()),
        ("RACEBENCH_CANDIDATE".into(), plan.candidate.id.clone()),
        ("RACEBENCH_TRIAL".into(), plan.trial.to_string()),
        ("RACEBENCH_OUT".into(), OUT_DIR.into()),
        ("RACEBENCH_WORKSPACE".into(), spec.workspace.path.clone()),
        ("RACEBENCH_TESTS".into(), TESTS_DIR.into()),
    ]
}
