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
/// The pod (its name) an object belongs to.
pub const POD: &str = "org.racebench.pod";
/// The host the creating racebench process runs on (its name).
pub const HOST: &str = "org.racebench.host";
/// The pid of the racebench process that created the object.
pub const PID: &str = "org.racebench.pid";
/// On the objects of a trial run with `--keep`: left for debugging, so runs
/// that sweep the leftovers of dead racebench processes spare them
/// (`racebench clean` removes them).
pub const KEEP: &str = "org.racebench.keep";
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
        (HOST.to_string(), host_name()),
    ])
}

/// This host's name, as the kernel knows it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether an object carrying `labels` was made by a racebench process of
/// this host that no longer runs (so nobody will remove it but a sweep).
/// Whether an object was left on purpose (`--keep`).
pub fn is_kept(labels: &std::collections::HashMap<String, String>) -> bool {
    labels.get(KEEP).is_some_and(|v| v == "true")
}

/// Whether an object carrying `labels` belongs to another racebench process
/// of this host that still runs (a run in progress, whose pods are its own).
pub fn owner_is_running(labels: &HashMap<String, String>) -> bool {
    let same_host = labels.get(HOST).is_none_or(|h| *h == host_name());
    let Some(pid) = labels.get(PID).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    same_host && pid != std::process::id() && process_exists(pid)
}

pub fn owner_is_gone(labels: &HashMap<String, String>) -> bool {
    let same_host = labels.get(HOST).is_none_or(|h| *h == host_name());
    let Some(pid) = labels.get(PID).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    same_host && pid != std::process::id() && !process_exists(pid)
}

/// Whether a process with this pid exists on this host.
#[cfg(unix)]
pub(crate) fn process_exists(pid: u32) -> bool {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists; nothing is sent.
    if unsafe { kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to someone else.
    std::io::Error::last_os_error().raw_os_error() == Some(1)
}

#[cfg(not(unix))]
pub(crate) fn process_exists(_pid: u32) -> bool {
    true
}
