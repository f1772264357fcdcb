//! What one trial is: which datapoint, candidate and trial number, and
//! everything the run prepared for it (image, patch, hidden tests, the pod's
//! service images).

use std::sync::Arc;
use std::time::Duration;

use racebench_model::{Candidate, Datapoint, RunLayout, ServiceKind, Weights};

use crate::archive::FileSet;
use crate::pod::{ServiceImages, ServiceLimits};

/// Which trial this is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrialKey {
    pub run_id: String,
    pub datapoint: String,
    pub candidate: String,
    /// 1-based.
    pub trial: u32,
}

impl std::fmt::Display for TrialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}#{}",
            self.run_id, self.datapoint, self.candidate, self.trial
        )
    }
}

/// The services part of every pod of a run.
#[derive(Debug, Clone, Default)]
pub struct PodTemplate {
    /// Image per managed service kind.
    pub images: ServiceImages,
    /// Kinds served from outside the pod (external servers, name-isolated).
    pub external: Vec<ServiceKind>,
    pub service_limits: ServiceLimits,
    /// How long the services may take to answer their probes.
    pub ready_timeout: Duration,
}

/// Everything one trial needs, prepared by the run.
#[derive(Clone)]
pub struct TrialPlan {
    pub run_id: String,
    pub datapoint: Arc<Datapoint>,
    pub weights: Option<Arc<Weights>>,
    /// Image tag to start the main container from.
    pub image: String,
    pub candidate: Candidate,
    /// Patch text; `None` for the unpatched candidate.
    pub patch: Option<Arc<String>>,
    /// Tar archive of the hidden tests, rooted at `racebench/tests/`.
    pub hidden_tests: Arc<Vec<u8>>,
    pub trial: u32,
    pub layout: RunLayout,
    pub pod: Arc<PodTemplate>,
    /// Leave the pod for debugging.
    pub keep: bool,
    /// Why earlier attempts of this trial failed (infrastructure errors,
    /// retried); empty on the first attempt.
    pub earlier_attempts: Vec<String>,
}

impl TrialPlan {
    pub fn key(&self) -> TrialKey {
        TrialKey {
            run_id: self.run_id.clone(),
            datapoint: self.datapoint.spec.id.clone(),
            candidate: self.candidate.id.clone(),
            trial: self.trial,
        }
    }
}

/// Packs hidden tests (paths relative to the tests folder) once, for every
/// trial of a datapoint, rooted at `racebench/tests/`.
pub fn pack_hidden_tests(files: &FileSet) -> std::io::Result<Vec<u8>> {
    let mut rooted = FileSet::new();
    for (path, data, mode) in files.iter() {
        rooted.add(&format!("racebench/tests/{path}"), data.to_vec(), mode);
    }
    rooted.to_tar()
}
