//! The services as a trial sees them: `Services` provides, per trial, the
//! resources of the contract through the [`Provision`] seam of `trial`.

use racebench_model::DatapointSpec;

use crate::services::{Services, TrialServices};
use crate::trial::{BoxFuture, Lease, Provision, ProvisionError, TrialKey};

impl Provision for Services {
    fn provision<'a>(
        &'a self,
        key: &'a TrialKey,
        spec: &'a DatapointSpec,
        network_id: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, ProvisionError>> {
        Box::pin(async move {
            let services = Services::provision(self, key, spec, network_id).await?;
            Ok(Box::new(services) as Box<dyn Lease>)
        })
    }

    fn contained(&self) -> bool {
        Services::contained(self)
    }
}

impl Lease for TrialServices {
    fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, Result<(), ProvisionError>> {
        Box::pin(async move { TrialServices::release(*self).await.map_err(Into::into) })
    }
}
