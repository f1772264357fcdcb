//! The labels racebench puts on every container, network, volume and image it
//! creates, so `racebench clean` can find them and `docker ps --filter` can
//! show them.

use std::collections::HashMap;

/// On everything racebench creates.
pub const OWNER: &str = "org.racebench";
/// The run a trial object belongs to (not on long-lived services).
pub const RUN: &str = "org.racebench.run";
pub const DATAPOINT: &str = "org.racebench.datapoint";
pub const CANDIDATE: &str = "org.racebench.candidate";
pub const TRIAL: &str = "org.racebench.trial";
/// `trial`, `trial-network`, `service`, `services-network`, `builder`.
pub const ROLE: &str = "org.racebench.role";
/// Which service (`postgres`, `kafka`, `redis`) a service container is.
pub const SERVICE: &str = "org.racebench.service";
/// The pid of the racebench process that created the object.
pub const PID: &str = "org.racebench.pid";
/// Content hash of what an image was built from; a mismatch means rebuild.
pub const CONTENT_HASH: &str = "org.racebench.content-hash";
/// How a base image was made (`debootstrap`, `mmdebstrap`).
pub const BASE: &str = "org.racebench.base";

/// The labels of an object created for a trial.
pub fn for_trial(
    run: &str,
    datapoint: &str,
    candidate: &str,
    trial: u32,
    role: &str,
) -> HashMap<String, String> {
    let mut labels = owned(role);
    labels.insert(RUN.into(), run.into());
    labels.insert(DATAPOINT.into(), datapoint.into());
    labels.insert(CANDIDATE.into(), candidate.into());
    labels.insert(TRIAL.into(), trial.to_string());
    labels
}

/// The labels every racebench object carries.
pub fn owned(role: &str) -> HashMap<String, String> {
    HashMap::from([
        (OWNER.to_string(), "1".to_string()),
        (ROLE.to_string(), role.to_string()),
        (PID.to_string(), std::process::id().to_string()),
    ])
}
