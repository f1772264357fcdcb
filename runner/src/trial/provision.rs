//! The seam for services that do not run in the pod: external servers shared
//! by trials, which give each trial resources of its own by name (see
//! `services::external`).

use std::future::Future;
use std::pin::Pin;

use racebench_model::DatapointSpec;

use super::plan::TrialKey;

/// A boxed future, so service providers can sit behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors from a service provider, already phrased for the user.
pub type ProvisionError = Box<dyn std::error::Error + Send + Sync>;

/// Gives a trial its databases, topics and the like on external servers.
pub trait Provision: Send + Sync {
    /// Prepares per-trial resources; returns the environment variables the
    /// trial's main container gets.
    fn provision<'a>(
        &'a self,
        key: &'a TrialKey,
        spec: &'a DatapointSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, ProvisionError>>;
}

/// Per-trial service resources, released after the trial.
pub trait Lease: Send + Sync {
    fn env(&self) -> Vec<(String, String)>;
    fn release(self: Box<Self>) -> BoxFuture<'static, Result<(), ProvisionError>>;
}
