//! Pods on a Docker swarm: a connection to a manager, the nodes it knows, one
//! swarm service per container of a pod placed on a node the caller picks, the
//! pod's internal overlay network, waiting for a task to finish (or its node to
//! be lost), secrets and configs handed to it, its logs, and removal by
//! label. See `docs/cluster.md`.

mod cleanup;
mod error;
mod frames;
mod guard;
mod input;
mod job;
mod logs;
mod manager;
mod network;
mod node;
mod outcome;
mod placement;
mod pod;

pub use cleanup::{Leftovers, Removed};
pub use error::ClusterError;
pub use frames::{decode, FrameError, Frames, FRAMES_SH};
pub use guard::LabelGuard;
pub use input::{Input, InputKind, InputMount, MAX_INPUT_BYTES};
pub use job::{BindMount, HealthProbe, Job, JobLimits, JobSpec};
pub use logs::JobLogs;
pub use manager::Manager;
pub use network::PodNetwork;
pub use node::{Availability, NodeHealth, NodeInfo};
pub use outcome::{classify, JobOutcome, Progress, TaskState, TaskView, WaitLimits};
pub use placement::{pick_node, Demand};
pub use pod::{PodStartError, SwarmPod, SwarmPodSpec};
