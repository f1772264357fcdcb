//! `racebench services status`: for each service, where it comes from, its
//! container state, where racebench reaches it, and a live probe's result.

use std::fmt;
use std::time::{Duration, Instant};

use racebench_model::ServiceKind;

use super::config::{ServiceSource, ServicesConfig};
use super::kafka_admin::KafkaAdmin;
use super::managed::{Managed, ADMIN_PASSWORD, ADMIN_USER};
use super::postgres::PostgresAdmin;
use super::readiness::Probe;
use super::redis::RedisAdmin;
use crate::engine::Engine;

/// The state of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub kind: ServiceKind,
    /// Container name, or `external`.
    pub name: String,
    /// Image of the container (empty when absent or external).
    pub image: String,
    /// `running`, `exited`, `absent` or `external`.
    pub state: String,
    /// Where racebench reaches it.
    pub host_address: Option<String>,
    pub healthy: bool,
    /// How long the probe took (when one was made).
    pub probe_time: Option<Duration>,
    /// Why it is not healthy.
    pub detail: Option<String>,
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let health = if self.healthy { "healthy" } else { "unhealthy" };
        write!(
            f,
            "{:<9} {:<19} {:<8} {:<22}",
            self.kind,
            self.name,
            self.state,
            self.host_address.as_deref().unwrap_or("-")
        )?;
        match (self.state.as_str(), self.probe_time) {
            ("absent", _) => write!(f, " -"),
            (_, Some(t)) => write!(f, " {health} ({} ms)", t.as_millis()),
            _ => write!(f, " {health}"),
        }?;
        if !self.image.is_empty() {
            write!(f, "  {}", self.image)?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\n          {detail}")?;
        }
        Ok(())
    }
}

/// Probes every service once (2 s each at most); never starts anything.
pub async fn status(engine: &Engine, config: &ServicesConfig) -> Vec<ServiceStatus> {
    let mut out = Vec::new();
    for kind in ServiceKind::ALL {
        out.push(one(engine, config, kind).await);
    }
    out
}

async fn one(engine: &Engine, config: &ServicesConfig, kind: ServiceKind) -> ServiceStatus {
    let mut status = ServiceStatus {
        kind,
        name: String::new(),
        image: String::new(),
        state: String::new(),
        host_address: None,
        healthy: false,
        probe_time: None,
        detail: None,
    };
    let probe = match config.source(kind) {
        ServiceSource::External { admin, .. } => {
            status.name = "external".into();
            status.state = "external".into();
            status.host_address = Some(match kind {
                ServiceKind::Kafka => admin.clone(),
                _ => super::postgres::redact(admin),
            });
            match kind {
                ServiceKind::Postgres => PostgresAdmin::new(admin, false).map(Probe::Postgres),
                ServiceKind::Kafka => Ok(Probe::Kafka(admin.clone())),
                ServiceKind::Redis => RedisAdmin::from_url(admin).map(Probe::Redis),
            }
        }
        ServiceSource::Managed { image } => {
            let managed = Managed::of(kind);
            status.name = managed.container.into();
            let details = match engine.inspect_container(managed.container).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    status.state = "absent".into();
                    return status;
                }
                Err(e) => {
                    status.state = "unknown".into();
                    status.detail = Some(e.to_string());
                    return status;
                }
            };
            status.image = details.image.clone();
            status.state = if details.running {
                "running".into()
            } else {
                "exited".into()
            };
            let Some(port) = details.host_ports.get(&managed.port_key()) else {
                status.detail = Some("no published port".into());
                return status;
            };
            let address = format!("127.0.0.1:{port}");
            status.host_address = Some(address.clone());
            match kind {
                ServiceKind::Postgres => PostgresAdmin::new(
                    &format!("postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@{address}/postgres"),
                    true,
                )
                .map(Probe::Postgres),
                ServiceKind::Kafka => Ok(Probe::ManagedKafka(KafkaAdmin::managed(address))),
                ServiceKind::Redis => Ok(Probe::Redis(RedisAdmin::new(
                    address,
                    image
                        .is_none()
                        .then(|| (Some(ADMIN_USER.to_string()), ADMIN_PASSWORD.to_string())),
                ))),
            }
        }
    };
    let probe = match probe {
        Ok(p) => p,
        Err(e) => {
            status.detail = Some(e.to_string());
            return status;
        }
    };
    let started = Instant::now();
    let result = probe.once(Duration::from_secs(2)).await;
    status.probe_time = Some(started.elapsed());
    if let Probe::Postgres(pg) = &probe {
        pg.close().await;
    }
    match result {
        Ok(()) => status.healthy = true,
        Err(e) => status.detail = Some(e),
    }
    status
}
