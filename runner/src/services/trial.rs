//! One trial's share of the services: the services connected to the trial's
//! network under their aliases, a database cloned from the template (owned by
//! a role of its own), the declared topics under a prefix of its own, and a
//! leased Redis database; all handed over as environment variables (the
//! contract in docs/datapoint-format.md) and removed again by `release`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use racebench_model::{DatapointSpec, ServiceKind};

use super::error::ServiceError;
use super::kafka_admin::KafkaAdmin;
use super::lifecycle::Services;
use super::managed::Managed;
use super::naming::{TrialKey, TrialNames};
use super::postgres::PostgresAdmin;
use super::redis::RedisAdmin;
use crate::engine::Engine;

/// A trial's provisioned resources. Call [`release`](Self::release); if it is
/// dropped instead, the release runs as a task on the current runtime.
#[derive(Debug)]
pub struct TrialServices {
    /// The environment of the contract, for the trial container.
    pub env: Vec<(String, String)>,
    /// How long provisioning took.
    pub elapsed: Duration,
    /// The names of the trial's resources.
    pub names: TrialNames,
    /// The Redis database index leased, if any.
    pub redis_index: Option<u32>,
    cleanup: Option<Cleanup>,
}

/// What `release` undoes.
#[derive(Debug, Default)]
struct Cleanup {
    engine: Option<Engine>,
    network: String,
    connected: Vec<String>,
    postgres: Option<(PostgresAdmin, String)>,
    kafka: Option<(KafkaAdmin, String)>,
    redis: Option<(RedisAdmin, u32, String)>,
}

impl Services {
    /// Provisions `spec.services` for one trial whose container will run on
    /// `network_id` (an internal network made with
    /// `NetworkIsolation::Contained`).
    pub async fn provision(
        &self,
        trial: &TrialKey,
        spec: &DatapointSpec,
        network_id: &str,
    ) -> Result<TrialServices, ServiceError> {
        let started = Instant::now();
        let needed: BTreeSet<ServiceKind> = spec.services.iter().copied().collect();
        let names = TrialNames::fresh(trial);
        let mut cleanup = Cleanup {
            engine: Some(self.engine.clone()),
            network: network_id.to_string(),
            ..Default::default()
        };
        let mut env = Vec::new();
        let mut redis_index = None;
        let result = self
            .provision_into(
                trial,
                &needed,
                spec,
                &names,
                &mut cleanup,
                &mut env,
                &mut redis_index,
            )
            .await;
        if let Err(e) = result {
            if let Err(cleanup_error) = cleanup.run().await {
                tracing::warn!("cleanup after failed provisioning of {trial}: {cleanup_error}");
            }
            return Err(e);
        }
        Ok(TrialServices {
            env,
            elapsed: started.elapsed(),
            names,
            redis_index,
            cleanup: Some(cleanup),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn provision_into(
        &self,
        trial: &TrialKey,
        needed: &BTreeSet<ServiceKind>,
        spec: &DatapointSpec,
        names: &TrialNames,
        cleanup: &mut Cleanup,
        env: &mut Vec<(String, String)>,
        redis_index: &mut Option<u32>,
    ) -> Result<(), ServiceError> {
        let endpoint = |kind| {
            self.endpoints
                .get(&kind)
                .ok_or(ServiceError::NotStarted { kind })
        };
        if needed
            .iter()
            .any(|k| self.endpoints.get(k).is_some_and(|e| e.container.is_some()))
        {
            self.check_network(&cleanup.network).await?;
        }
        // Attaching a container to a network takes the engine ~0.2 s each:
        // attach every service at once, while the resources are created.
        let mut attach = Vec::new();
        for &kind in needed {
            if let Some(container) = &endpoint(kind)?.container {
                attach.push((container.clone(), Managed::of(kind).alias().to_string()));
            }
        }
        let network = cleanup.network.clone();
        let attaching =
            futures_util::future::join_all(attach.into_iter().map(|(container, alias)| {
                let network = network.clone();
                async move {
                    let result = self
                        .engine
                        .connect_network(&network, &container, &[alias])
                        .await;
                    (container, result)
                }
            }));
        let (attached, (pg, kafka, redis)) = tokio::join!(attaching, async {
            tokio::join!(
                async {
                    match (needed.contains(&ServiceKind::Postgres), &self.postgres) {
                        (true, Some(admin)) => {
                            let grant = admin
                                .create_trial(names, &format!("racebench trial {trial}"))
                                .await?;
                            Ok::<_, ServiceError>(Some((admin.clone(), grant)))
                        }
                        _ => Ok(None),
                    }
                },
                async {
                    match (needed.contains(&ServiceKind::Kafka), &self.kafka) {
                        (true, Some(admin)) => {
                            let topics: Vec<(String, i32)> = spec
                                .kafka
                                .topics
                                .iter()
                                .map(|t| {
                                    (format!("{}{}", names.topic_prefix, t.name), t.partitions)
                                })
                                .collect();
                            let created = admin.create_topics(&topics, false).await;
                            Ok::<_, ServiceError>(Some((admin.clone(), created)))
                        }
                        _ => Ok(None),
                    }
                },
                async {
                    match (needed.contains(&ServiceKind::Redis), &self.redis) {
                        (true, Some((admin, databases))) => {
                            let index = admin.lease(&names.token, *databases).await?;
                            Ok::<_, ServiceError>(Some((admin.clone(), index)))
                        }
                        _ => Ok(None),
                    }
                },
            )
        });
        // Record everything that was made before reporting a failure, so it is undone.
        let mut first_error = None;
        for (container, result) in attached {
            match result {
                Ok(()) => cleanup.connected.push(container),
                // Attached already (a retried provisioning): leave it to its owner.
                Err(e) if e.to_string().contains("already exists") => {}
                Err(e) => first_error = first_error.or(Some(ServiceError::from(e))),
            }
        }
        match pg {
            Ok(Some((admin, grant))) => {
                cleanup.postgres = Some((admin, grant.database.clone()));
                let address = &endpoint(ServiceKind::Postgres)?.trial_address;
                let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
                env.extend([
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
                    // The server speaks no TLS; lib/pq and libpq would ask for it.
                    ("PGSSLMODE".into(), "disable".into()),
                ]);
            }
            Ok(None) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
        match kafka {
            Ok(Some((admin, created))) => {
                cleanup.kafka = Some((admin, names.topic_prefix.clone()));
                match created {
                    Ok(()) => {
                        env.extend([
                            (
                                "KAFKA_BOOTSTRAP_SERVERS".to_string(),
                                endpoint(ServiceKind::Kafka)?.trial_address.clone(),
                            ),
                            ("RACEBENCH_TOPIC_PREFIX".into(), names.topic_prefix.clone()),
                            ("RACEBENCH_GROUP_PREFIX".into(), names.topic_prefix.clone()),
                        ]);
                        for topic in &spec.kafka.topics {
                            env.push((
                                TrialNames::topic_variable(&topic.name),
                                format!("{}{}", names.topic_prefix, topic.name),
                            ));
                        }
                    }
                    Err(e) => first_error = first_error.or(Some(e)),
                }
            }
            Ok(None) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
        match redis {
            Ok(Some((admin, index))) => {
                cleanup.redis = Some((admin, index, names.token.clone()));
                *redis_index = Some(index);
                env.push((
                    "REDIS_URL".to_string(),
                    format!(
                        "redis://{}/{index}",
                        endpoint(ServiceKind::Redis)?.trial_address
                    ),
                ));
            }
            Ok(None) => {}
            Err(e) => first_error = first_error.or(Some(e)),
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Refuses a trial network that is not internal; warns when the host is
    /// reachable on it.
    async fn check_network(&self, network: &str) -> Result<(), ServiceError> {
        let details = self.engine.network_details(network).await?;
        match details {
            Some(d) if !d.internal => Err(ServiceError::NetworkNotContained { network: d.name }),
            Some(d) => {
                if !d.host_unreachable {
                    tracing::warn!(
                        network = %d.name,
                        "trial network lets containers reach the host's ports through its gateway; create it with NetworkIsolation::Contained"
                    );
                }
                Ok(())
            }
            None => Err(ServiceError::Engine(
                crate::engine::EngineError::Operation {
                    action: format!("find the trial network {network}"),
                    message: "it does not exist".into(),
                },
            )),
        }
    }
}

impl TrialServices {
    /// Drops the database, deletes every topic and consumer group under the
    /// trial's prefix (including ones the tests made), empties and frees the
    /// Redis database, and disconnects the services from the trial network.
    /// Every step is tried; the first failure is returned.
    pub async fn release(mut self) -> Result<(), ServiceError> {
        match self.cleanup.take() {
            Some(cleanup) => cleanup.run().await,
            None => Ok(()),
        }
    }

    /// The value of one variable of [`env`](Self::env).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for TrialServices {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move {
                        if let Err(e) = cleanup.run().await {
                            tracing::warn!("release of a dropped trial's services failed: {e}");
                        }
                    });
                }
                Err(_) => tracing::warn!(
                    "trial services dropped outside a runtime; `racebench clean` removes what is left"
                ),
            }
        }
    }
}

impl Cleanup {
    /// Undoes everything at once; every step is tried, the first failure returned.
    async fn run(self) -> Result<(), ServiceError> {
        let detach = async {
            let Some(engine) = &self.engine else {
                return Vec::new();
            };
            futures_util::future::join_all(
                self.connected
                    .iter()
                    .map(|container| engine.disconnect_network(&self.network, container)),
            )
            .await
        };
        let (pg, kafka, redis, detached) = tokio::join!(
            async {
                match &self.postgres {
                    Some((admin, db)) => admin.drop_trial(db).await,
                    None => Ok(()),
                }
            },
            async {
                match &self.kafka {
                    Some((admin, prefix)) => delete_kafka_prefix(admin, prefix).await,
                    None => Ok(()),
                }
            },
            async {
                match &self.redis {
                    Some((admin, index, token)) => admin.release(*index, token).await,
                    None => Ok(()),
                }
            },
            detach,
        );
        let detached = detached.into_iter().map(|r| r.map_err(ServiceError::from));
        [pg, kafka, redis]
            .into_iter()
            .chain(detached)
            .find_map(Result::err)
            .map_or(Ok(()), Err)
    }
}

/// Deletes every topic and consumer group whose name starts with `prefix`.
pub(crate) async fn delete_kafka_prefix(
    admin: &KafkaAdmin,
    prefix: &str,
) -> Result<(), ServiceError> {
    let topics: Vec<String> = admin
        .topics_with_prefix(prefix)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    admin.delete_topics(&topics).await?;
    // Group deletion is best effort: a broker may not support it, or may
    // still count members of a consumer that was killed with the trial until
    // their session times out. What is left is swept when the next run starts
    // (or by `racebench clean`), once this process is gone.
    match admin.groups_with_prefix(prefix).await {
        Ok(Some(groups)) => {
            if let Err(e) = admin.delete_groups(&groups).await {
                tracing::debug!("consumer groups under {prefix} left for the next sweep: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("consumer groups under {prefix} were not listed: {e}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>(_: &T) {}
    fn is_send<T: Send>(_: T) {}

    /// Trials run in parallel tasks: the services are shared through an `Arc`
    /// and provisioning and release must be spawnable.
    #[allow(dead_code)]
    fn services_can_be_shared_by_parallel_trial_tasks(
        services: &Services,
        key: &TrialKey,
        spec: &DatapointSpec,
        trial: TrialServices,
    ) {
        is_send_sync(services);
        is_send(services.provision(key, spec, "network"));
        is_send(trial.release());
    }
}
