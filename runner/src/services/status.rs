//! `racebench services status`: for each service, where it comes from (a
//! pod per trial, or an external server), its image or address, and for an
//! external server a live probe's result.

use std::fmt;
use std::time::{Duration, Instant};

use racebench_model::ServiceKind;

use super::config::{ServiceSource, ServicesConfig};
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

/// Probes every external service once (2 s each at most); managed services
/// run only inside trial pods, so their state is that of their image.
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
            status.name = "per-trial pod".into();
            let found = match image {
                Some(image) => engine.image(image).await.map(|i| i.map(|_| image.clone())),
                None => built_image(engine, kind).await,
            };
            match found {
                Ok(Some(tag)) => {
                    status.state = "built".into();
                    status.image = tag;
                    status.healthy = true;
                }
                Ok(None) => {
                    status.state = "absent".into();
                    status.detail = Some(
                        "not built yet: `racebench services build`, or the first run builds it"
                            .into(),
                    );
                }
                Err(e) => {
                    status.state = "unknown".into();
                    status.detail = Some(e.to_string());
                }
            }
            return status;
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

/// The newest image racebench built for `kind`, if any.
async fn built_image(
    engine: &Engine,
    kind: ServiceKind,
) -> Result<Option<String>, crate::engine::EngineError> {
    let label = format!("{}={}", crate::labels::SERVICE, kind.as_str());
    Ok(engine
        .images_with_label(&label)
        .await?
        .into_iter()
        .find(|tag| tag.starts_with(super::images::repo(kind))))
}
