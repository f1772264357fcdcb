//! Leftovers of killed runs: trial databases and roles, topics, consumer
//! groups and Redis leases whose owning racebench process (named in each
//! resource's name) no longer exists on this host. Only services that are
//! running are swept; nothing is started.

use racebench_model::ServiceKind;

use super::config::{ServiceSource, ServicesConfig};
use super::error::ServiceError;
use super::kafka_admin::KafkaAdmin;
use super::lifecycle::Services;
use super::managed::{Managed, ADMIN_PASSWORD, ADMIN_USER};
use super::naming::{owner_of, TOPIC_PREFIX};
use super::postgres::PostgresAdmin;
use super::redis::RedisAdmin;
use crate::engine::Engine;

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Trial databases and roles dropped.
    pub databases: Vec<String>,
    pub topics: Vec<String>,
    pub groups: Vec<String>,
    /// Redis database indexes emptied and freed.
    pub redis_indexes: Vec<u32>,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
            && self.topics.is_empty()
            && self.groups.is_empty()
            && self.redis_indexes.is_empty()
    }
}

/// Removes the trial resources of racebench processes that are gone.
pub async fn sweep_leftovers(
    engine: &Engine,
    config: &ServicesConfig,
) -> Result<SweepReport, ServiceError> {
    let mut report = SweepReport::default();
    if let Some(address) = address_of(engine, config, ServiceKind::Postgres).await? {
        let admin = match config.source(ServiceKind::Postgres) {
            ServiceSource::External { admin, .. } => PostgresAdmin::new(admin, false)?,
            ServiceSource::Managed { .. } => PostgresAdmin::new(
                &format!("postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@{address}/postgres"),
                true,
            )?,
        };
        let mut admin = admin;
        admin.prepare().await?;
        report.databases = admin.sweep().await?;
        admin.close().await;
    }
    if let Some(address) = address_of(engine, config, ServiceKind::Kafka).await? {
        let admin = match config.source(ServiceKind::Kafka) {
            ServiceSource::External { admin, .. } => KafkaAdmin::external(admin),
            ServiceSource::Managed { .. } => KafkaAdmin::managed(address),
        };
        sweep_kafka(&admin, &mut report).await?;
    }
    if let Some(address) = address_of(engine, config, ServiceKind::Redis).await? {
        let admin = match config.source(ServiceKind::Redis) {
            ServiceSource::External { admin, .. } => RedisAdmin::from_url(admin)?,
            ServiceSource::Managed { image: None } => RedisAdmin::new(
                address,
                Some((Some(ADMIN_USER.into()), ADMIN_PASSWORD.into())),
            ),
            ServiceSource::Managed { image: Some(_) } => RedisAdmin::new(address, None),
        };
        report.redis_indexes = admin.sweep().await?;
    }
    Ok(report)
}

impl Services {
    /// The same sweep over this handle's services, with the admin clients it
    /// already holds (connected and prepared when the services became ready).
    pub async fn sweep_leftovers(&self) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        if let Some(admin) = &self.postgres {
            report.databases = admin.sweep().await?;
        }
        if let Some(admin) = &self.kafka {
            sweep_kafka(admin, &mut report).await?;
        }
        if let Some((admin, _)) = &self.redis {
            report.redis_indexes = admin.sweep().await?;
        }
        Ok(report)
    }
}

/// Deletes the topics and consumer groups of dead owners.
async fn sweep_kafka(admin: &KafkaAdmin, report: &mut SweepReport) -> Result<(), ServiceError> {
    let dead = |name: &String| owner_of(name).is_some_and(|o| o.is_dead());
    report.topics = admin
        .topics_with_prefix(TOPIC_PREFIX)
        .await?
        .into_iter()
        .map(|t| t.name)
        .filter(dead)
        .collect();
    admin.delete_topics(&report.topics).await?;
    if let Some(groups) = admin.groups_with_prefix(TOPIC_PREFIX).await? {
        let groups: Vec<String> = groups.into_iter().filter(dead).collect();
        if admin.delete_groups(&groups).await? {
            report.groups = groups;
        }
    }
    Ok(())
}

/// Where racebench reaches a service that is up, or `None` (managed and not running).
async fn address_of(
    engine: &Engine,
    config: &ServicesConfig,
    kind: ServiceKind,
) -> Result<Option<String>, ServiceError> {
    match config.source(kind) {
        ServiceSource::External { admin, .. } => Ok(Some(admin.clone())),
        ServiceSource::Managed { .. } => {
            let managed = Managed::of(kind);
            Ok(engine
                .inspect_container(managed.container)
                .await?
                .filter(|d| d.running)
                .and_then(|d| d.host_ports.get(&managed.port_key()).copied())
                .map(|port| format!("127.0.0.1:{port}")))
        }
    }
}
