//! Exit codes, documented in `docs/exit-codes.md`. Scripts rely on them.

use racebench_model::{DatapointError, WeightsError};
use racebench_runner::cluster::ClusterError;
use racebench_runner::engine::EngineError;
use racebench_runner::pod::PodError;
use racebench_runner::predictions::PredictionsError;
use racebench_runner::services::ServiceError;
use racebench_runner::session::SessionError;

/// Everything went as asked (for `validate`: every datapoint is sound).
pub const SUCCESS: i32 = 0;
/// `validate`: at least one datapoint regressed (reference failed, bug or decoy not caught).
pub const REGRESSED: i32 = 1;
/// The command line is wrong (clap's own code).
pub const USAGE: i32 = 2;
/// An input file is wrong: datapoint, weights, patch, predictions, results folder.
pub const BAD_INPUT: i32 = 3;
/// The Docker engine or a service is unreachable or failed (nothing about candidates).
pub const INFRA: i32 = 4;
/// `validate`: no regression, but infrastructure errors left some datapoint unjudged.
pub const INCONCLUSIVE: i32 = 5;
/// Interrupted (Ctrl-C); `racebench run --resume RUN_DIR` finishes the run.
pub const INTERRUPTED: i32 = 130;

/// An error that already knows its exit code.
#[derive(Debug)]
pub struct Coded {
    pub code: i32,
    pub error: anyhow::Error,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Tags an error with a code, keeping its message and causes.
pub fn coded(code: i32, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        error: error.into(),
    })
}

/// The exit code for an error: an explicit tag wins, then the kind of the first
/// recognised cause; anything else is bad input.
pub fn classify(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if cause.is::<EngineError>()
            || cause.is::<ServiceError>()
            || cause.is::<PodError>()
            || cause.is::<ClusterError>()
        {
            return INFRA;
        }
        if let Some(e) = cause.downcast_ref::<SessionError>() {
            return if e.is_infra() { INFRA } else { BAD_INPUT };
        }
        if cause.is::<DatapointError>()
            || cause.is::<WeightsError>()
            || cause.is::<PredictionsError>()
        {
            return BAD_INPUT;
        }
    }
    BAD_INPUT
}
