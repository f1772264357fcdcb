//! The local engine: each trial's pod on this machine's Docker engine, driven
//! step by step (`trial::run_trial`), with services in the pod or on
//! external servers.

use std::sync::Arc;

use racebench_model::TrialRecord;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::trial::{prepare_pod, run_trial, PreparedPod, Provision, TrialPlan};

/// Pods on the local engine. Cheap to clone.
#[derive(Clone)]
pub struct Local {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// External servers for the kinds a run takes from outside the pod.
    external: Option<Arc<dyn Provision>>,
}

impl Local {
    pub fn new(engine: Engine, external: Option<Arc<dyn Provision>>) -> Local {
        Local {
            inner: Arc::new(Inner { engine, external }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub async fn run_trial(
        &self,
        plan: &TrialPlan,
        prepared: Option<PreparedPod>,
        kill: &CancellationToken,
    ) -> TrialRecord {
        run_trial(
            &self.inner.engine,
            self.inner.external.as_deref(),
            plan,
            prepared,
            kill,
        )
        .await
    }

    /// Starts a trial's pod ahead of its turn.
    pub async fn prepare(&self, plan: &TrialPlan) -> PreparedPod {
        prepare_pod(&self.inner.engine, plan).await
    }
}
