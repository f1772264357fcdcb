//! Networks around the services: the long-lived `racebench-services` bridge
//! the service containers start on (not internal, so their ports can be
//! published on 127.0.0.1), and contained trial networks: internal, and with
//! no address for the host on the bridge, so a trial reaches its services
//! and nothing else (not even ports the host listens on).

use std::collections::HashMap;

use bollard::query_parameters::InspectNetworkOptions;

use crate::engine::{short, Engine, EngineError, NetworkIsolation};
use crate::labels;

/// The network the managed services start on.
pub const SERVICES_NETWORK: &str = "racebench-services";

pub use crate::engine::INHIBIT_HOST_OPTION;

/// What racebench checks about a network.
#[derive(Debug, Clone)]
pub struct NetworkDetails {
    pub id: String,
    pub name: String,
    pub internal: bool,
    /// The host has no address on it (see [`INHIBIT_HOST_OPTION`]).
    pub host_unreachable: bool,
    /// The gateway: the host's address on the bridge (unless inhibited). The
    /// default `bridge` network lists none; then it is the subnet's first address.
    pub gateway: Option<String>,
    /// The IPv4 subnet, e.g. `172.20.0.0/16`.
    pub subnet: Option<String>,
    pub labels: HashMap<String, String>,
}

impl Engine {
    /// Details of a network; `None` when it does not exist.
    pub async fn network_details(&self, id: &str) -> Result<Option<NetworkDetails>, EngineError> {
        match self
            .docker
            .inspect_network(id, None::<InspectNetworkOptions>)
            .await
        {
            Ok(n) => {
                let options = n.options.unwrap_or_default();
                let ipam: Vec<_> = n.ipam.and_then(|i| i.config).unwrap_or_default();
                let subnet = ipam
                    .iter()
                    .find_map(|c| c.subnet.clone())
                    .filter(|s| s.contains('.'));
                let gateway = ipam
                    .iter()
                    .find_map(|c| c.gateway.clone())
                    .or_else(|| subnet.as_deref().and_then(first_address));
                Ok(Some(NetworkDetails {
                    id: n.id.unwrap_or_default(),
                    name: n.name.unwrap_or_default(),
                    internal: n.internal.unwrap_or(false),
                    host_unreachable: options
                        .get(INHIBIT_HOST_OPTION)
                        .is_some_and(|v| v == "true"),
                    gateway,
                    subnet,
                    labels: n.labels.unwrap_or_default(),
                }))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::op(format!("inspect network {}", short(id)), e)),
        }
    }
}

/// The first host address of an IPv4 subnet (`172.17.0.0/16` gives `172.17.0.1`).
fn first_address(subnet: &str) -> Option<String> {
    let (net, _) = subnet.split_once('/')?;
    let ip: std::net::Ipv4Addr = net.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(ip) + 1).to_string())
}

/// The services network's id, created if missing; `true` when this call created it.
pub async fn ensure_services_network(engine: &Engine) -> Result<(String, bool), EngineError> {
    if let Some(found) = engine.network_details(SERVICES_NETWORK).await? {
        return Ok((found.id, false));
    }
    match engine
        .create_network(
            SERVICES_NETWORK,
            NetworkIsolation::Open,
            labels::owned("services-network"),
        )
        .await
    {
        Ok(id) => Ok((id, true)),
        Err(e) => match engine.network_details(SERVICES_NETWORK).await? {
            // Another racebench process created it first.
            Some(found) => Ok((found.id, false)),
            None => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_gateway_of_a_subnet_is_its_first_address() {
        assert_eq!(
            super::first_address("172.17.0.0/16").as_deref(),
            Some("172.17.0.1")
        );
        assert_eq!(super::first_address("fd00::/64"), None);
    }
}
