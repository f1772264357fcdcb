//! One trial: a pod (the datapoint image's container and its own services),
//! the candidate patch applied, the build, the hidden tests copied in and run,
//! the outputs collected, and the pod removed. Whatever happens, the outcome
//! is a [`TrialRecord`](racebench_model::TrialRecord), never a panic or an
//! early return that leaks a container. One file per step.

mod apply;
mod build;
mod collect;
mod contain;
mod entrypoint;
mod entrypoint_record;
mod exec;
mod plan;
mod provision;
mod setup;
mod steps;
mod verify;

pub use entrypoint::{
    entrypoint_inputs, entrypoint_script, split_input, EntrypointInputs, InputPaths,
    ENTRYPOINT_PATH, PATCH_INPUT, PLAN_PATH, SWARM_TESTS_INPUT,
};
pub(crate) use entrypoint::{quote, shell_helpers, words, EOF_MARK, STREAM_HALF, UNPACK_SCRIPT};
pub use entrypoint_record::record_from_entrypoint;
pub use plan::{pack_hidden_tests, PodTemplate, TrialKey, TrialPlan};
pub use provision::{BoxFuture, Lease, Provision, ProvisionError};
pub use setup::{prepare_pod, PreparedPod};
pub use steps::run_trial;
pub(crate) use steps::{begin_record, ms};
