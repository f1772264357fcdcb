//! Why a pod could not be started, made ready or removed. Every one of these
//! is racebench's (or the engine's) failure, never the candidate's: a pod is
//! ready before any candidate code runs in it.

use racebench_model::ServiceKind;

use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("failed to start pod {pod}")]
    Start {
        pod: String,
        #[source]
        source: EngineError,
    },
    #[error(
        "{kind} in pod {pod} did not become ready within {waited_secs} s: {reason}\n\
         last lines of its log:\n{log_tail}"
    )]
    NotReady {
        pod: String,
        kind: ServiceKind,
        waited_secs: u64,
        reason: String,
        log_tail: String,
    },
    #[error("failed to remove pod {pod}: {message}")]
    Remove { pod: String, message: String },
}
