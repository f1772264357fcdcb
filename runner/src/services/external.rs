//! External services (`RACEBENCH_POSTGRES_URL` and friends): servers racebench
//! does not run, shared by every trial, which gets resources of its own by
//! name: a database, topics and consumer groups under a prefix, a leased
//! Redis database. This is isolation by naming, not containment: a trial
//! could reach other trials' resources there (docs/services.md).

use std::collections::BTreeSet;
use std::time::Duration;

use racebench_model::{DatapointSpec, ServiceKind};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::config::{ServiceSource, ServicesConfig};
use super::error::ServiceError;
use super::naming::{owner_of, TrialNames, TOPIC_PREFIX};
use super::postgres::PostgresAdmin;
use super::readiness::{wait_ready, Probe};
use super::redis::RedisAdmin;
use crate::trial::{BoxFuture, Lease, Provision, ProvisionError, TrialKey};

/// The external services a run uses, ready.
#[derive(Debug, Clone)]
pub struct External {
    postgres: Option<(PostgresAdmin, String)>,
    /// (bootstrap for racebench, bootstrap for trials)
    kafka: Option<(String, String)>,
    /// (admin client, number of databases, address for trials)
    redis: Option<(RedisAdmin, u32, String)>,
}

impl External {
    /// Connects to the external services among `needed`, waiting until each
    /// answers; `None` when all of them run in pods.
    pub async fn connect(
        config: &ServicesConfig,
        needed: &BTreeSet<ServiceKind>,
    ) -> Result<Option<External>, ServiceError> {
        let mut external = External {
            postgres: None,
            kafka: None,
            redis: None,
        };
        let mut any = false;
        for &kind in needed {
            let ServiceSource::External { admin, for_trials } = config.source(kind) else {
                continue;
            };
            any = true;
            let shown = match kind {
                ServiceKind::Kafka => admin.clone(),
                _ => super::postgres::redact(admin),
            };
            match kind {
                ServiceKind::Postgres => {
                    let mut pg = PostgresAdmin::new(admin, false)?;
                    wait_ready(&Probe::Postgres(pg.clone()), &shown, config.ready_timeout).await?;
                    pg.prepare().await?;
                    external.postgres = Some((pg, for_trials.clone()));
                }
                ServiceKind::Kafka => {
                    wait_ready(&Probe::Kafka(admin.clone()), &shown, config.ready_timeout).await?;
                    external.kafka = Some((admin.clone(), for_trials.clone()));
                }
                ServiceKind::Redis => {
                    let redis = RedisAdmin::from_url(admin)?;
                    wait_ready(&Probe::Redis(redis.clone()), &shown, config.ready_timeout).await?;
                    let databases = redis.database_count().await?;
                    external.redis = Some((redis, databases, for_trials.clone()));
                }
            }
        }
        Ok(any.then_some(external))
    }

    /// The kinds served from outside.
    pub fn kinds(&self) -> Vec<ServiceKind> {
        let mut kinds = Vec::new();
        if self.postgres.is_some() {
            kinds.push(ServiceKind::Postgres);
        }
        if self.kafka.is_some() {
            kinds.push(ServiceKind::Kafka);
        }
        if self.redis.is_some() {
            kinds.push(ServiceKind::Redis);
        }
        kinds
    }

    /// Removes what killed racebench processes of this host left on the
    /// external services: databases, topics, Redis leases. Returns their names.
    pub async fn sweep(&self) -> Result<Vec<String>, ServiceError> {
        let mut swept = Vec::new();
        if let Some((pg, _)) = &self.postgres {
            swept.extend(pg.sweep().await?);
        }
        if let Some((bootstrap, _)) = &self.kafka {
            let dead: Vec<String> = list_topics(bootstrap)
                .await?
                .into_iter()
                .filter(|t| owner_of(t).is_some_and(|o| o.is_dead()))
                .collect();
            delete_topics(bootstrap, &dead).await?;
            swept.extend(dead);
        }
        if let Some((redis, _, _)) = &self.redis {
            swept.extend(
                redis
                    .sweep()
                    .await?
                    .into_iter()
                    .map(|i| format!("redis database {i}")),
            );
        }
        Ok(swept)
    }

    async fn provision_trial(
        &self,
        key: &TrialKey,
        spec: &DatapointSpec,
    ) -> Result<ExternalLease, ServiceError> {
        let names = TrialNames::fresh(key);
        let needed: BTreeSet<ServiceKind> = spec.services.iter().copied().collect();
        let mut lease = ExternalLease {
            env: Vec::new(),
            external: self.clone(),
            names: names.clone(),
            postgres: false,
            kafka: false,
            redis: None,
        };
        let result = self.provision_into(key, spec, &needed, &mut lease).await;
        match result {
            Ok(()) => Ok(lease),
            Err(e) => {
                if let Err(cleanup) = lease.undo().await {
                    tracing::warn!("cleanup after failed provisioning of {key}: {cleanup}");
                }
                Err(e)
            }
        }
    }

    async fn provision_into(
        &self,
        key: &TrialKey,
        spec: &DatapointSpec,
        needed: &BTreeSet<ServiceKind>,
        lease: &mut ExternalLease,
    ) -> Result<(), ServiceError> {
        let names = lease.names.clone();
        if let (true, Some((pg, address))) =
            (needed.contains(&ServiceKind::Postgres), &self.postgres)
        {
            let grant = pg
                .create_trial(&names, &format!("racebench trial {key}"))
                .await?;
            lease.postgres = true;
            let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
            lease.env.extend([
                (
                    "DATABASE_URL".to_string(),
                    format!(
                        "postgres://{}:{}@{host}:{port}/{}",
                        grant.user, grant.password, grant.database
                    ),
                ),
                ("PGHOST".into(), host.to_string()),
                ("PGPORT".into(), port.to_string()),
                ("PGUSER".into(), grant.user),
                ("PGPASSWORD".into(), grant.password),
                ("PGDATABASE".into(), grant.database),
                ("PGSSLMODE".into(), "disable".into()),
            ]);
        }
        if let (true, Some((bootstrap, for_trials))) =
            (needed.contains(&ServiceKind::Kafka), &self.kafka)
        {
            let topics: Vec<(String, i32)> = spec
                .kafka
                .topics
                .iter()
                .map(|t| (format!("{}{}", names.topic_prefix, t.name), t.partitions))
                .collect();
            lease.kafka = true;
            create_topics(bootstrap, &topics).await?;
            lease.env.extend([
                ("KAFKA_BOOTSTRAP_SERVERS".to_string(), for_trials.clone()),
                ("RACEBENCH_TOPIC_PREFIX".into(), names.topic_prefix.clone()),
                ("RACEBENCH_GROUP_PREFIX".into(), names.topic_prefix.clone()),
            ]);
            for topic in &spec.kafka.topics {
                lease.env.push((
                    TrialNames::topic_variable(&topic.name),
                    format!("{}{}", names.topic_prefix, topic.name),
                ));
            }
        }
        if let (true, Some((redis, databases, address))) =
            (needed.contains(&ServiceKind::Redis), &self.redis)
        {
            let index = redis.lease(&names.token, *databases).await?;
            lease.redis = Some(index);
            lease
                .env
                .push(("REDIS_URL".into(), format!("redis://{address}/{index}")));
        }
        Ok(())
    }
}

/// One trial's resources on the external services.
struct ExternalLease {
    env: Vec<(String, String)>,
    external: External,
    names: TrialNames,
    postgres: bool,
    kafka: bool,
    redis: Option<u32>,
}

impl ExternalLease {
    /// Drops the database, deletes the topics and groups under the prefix,
    /// empties and frees the Redis database. Every step is tried.
    async fn undo(&self) -> Result<(), ServiceError> {
        let pg = async {
            match (&self.external.postgres, self.postgres) {
                (Some((pg, _)), true) => pg.drop_trial(&self.names.database).await,
                _ => Ok(()),
            }
        };
        let kafka = async {
            match (&self.external.kafka, self.kafka) {
                (Some((bootstrap, _)), true) => {
                    let prefix = &self.names.topic_prefix;
                    let topics: Vec<String> = list_topics(bootstrap)
                        .await?
                        .into_iter()
                        .filter(|t| t.starts_with(prefix.as_str()))
                        .collect();
                    delete_topics(bootstrap, &topics).await
                }
                _ => Ok(()),
            }
        };
        let redis = async {
            match (&self.external.redis, self.redis) {
                (Some((redis, _, _)), Some(index)) => redis.release(index, &self.names.token).await,
                _ => Ok(()),
            }
        };
        let (pg, kafka, redis) = tokio::join!(pg, kafka, redis);
        pg.and(kafka).and(redis)
    }
}

impl Provision for External {
    fn provision<'a>(
        &'a self,
        key: &'a TrialKey,
        spec: &'a DatapointSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Lease>, ProvisionError>> {
        Box::pin(async move {
            let lease = self.provision_trial(key, spec).await?;
            Ok(Box::new(lease) as Box<dyn Lease>)
        })
    }
}

impl Lease for ExternalLease {
    fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, Result<(), ProvisionError>> {
        Box::pin(async move { self.undo().await.map_err(Into::into) })
    }
}

fn admin_client(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, ServiceError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .map_err(|e| ServiceError::kafka("create an admin client", e))
}

async fn create_topics(bootstrap: &str, topics: &[(String, i32)]) -> Result<(), ServiceError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin = admin_client(bootstrap)?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin
        .create_topics(&new, &options)
        .await
        .map_err(|e| ServiceError::kafka("create the trial's topics", e))?
    {
        if let Err((topic, code)) = result {
            return Err(ServiceError::kafka(format!("create topic {topic}"), code));
        }
    }
    Ok(())
}

async fn delete_topics(bootstrap: &str, topics: &[String]) -> Result<(), ServiceError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin = admin_client(bootstrap)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    admin
        .delete_topics(&names, &options)
        .await
        .map_err(|e| ServiceError::kafka("delete the trial's topics", e))?;
    // Consumer groups under the same names: best effort (members of a killed
    // trial stay until their session times out).
    let _ = admin.delete_groups(&names, &options).await;
    Ok(())
}

/// Names of racebench's topics (`rb-...`) on the cluster.
async fn list_topics(bootstrap: &str) -> Result<Vec<String>, ServiceError> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .map_err(|e| ServiceError::kafka("create a client", e))?;
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(|e| ServiceError::kafka("list topics", e))?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|n| n.starts_with(TOPIC_PREFIX))
            .collect())
    })
    .await
    .map_err(|e| ServiceError::kafka("list topics", e))?
}
