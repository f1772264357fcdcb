//! Real readiness probes, repeated until a deadline: `SELECT 1` through sqlx,
//! a Kafka Metadata request (through rdkafka for an external cluster, through
//! racebench's wire client on one connection for the managed broker), `PING`
//! for Redis.
//! A service that is not ready in time fails with its container's last log
//! lines; one whose container stopped fails at once.

use std::time::{Duration, Instant};

use racebench_model::ServiceKind;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::error::ServiceError;
use super::kafka_admin::KafkaAdmin;
use super::postgres::PostgresAdmin;
use super::redis::RedisAdmin;
use crate::engine::Engine;

/// How to ask one service whether it is ready.
#[derive(Debug, Clone)]
pub enum Probe {
    Postgres(PostgresAdmin),
    /// The managed broker, at its published port: its advertised address
    /// (`kafka:9092`) resolves only inside the services network, and
    /// librdkafka 2.12 drops a bootstrap connection as soon as it learns the
    /// advertised one, so from the host it fails at random. One Metadata
    /// request on one connection asks the same question without that race.
    ManagedKafka(KafkaAdmin),
    /// An external cluster's bootstrap list, whose advertised addresses
    /// resolve from here.
    Kafka(String),
    Redis(RedisAdmin),
}

impl Probe {
    pub fn kind(&self) -> ServiceKind {
        match self {
            Probe::Postgres(_) => ServiceKind::Postgres,
            Probe::Kafka(_) | Probe::ManagedKafka(_) => ServiceKind::Kafka,
            Probe::Redis(_) => ServiceKind::Redis,
        }
    }

    /// One probe, bounded by `timeout`.
    pub async fn once(&self, timeout: Duration) -> Result<(), String> {
        let attempt = async {
            match self {
                Probe::Postgres(admin) => admin.ping().await,
                Probe::Kafka(bootstrap) => {
                    kafka_metadata(bootstrap.clone(), timeout).await.map(|_| ())
                }
                Probe::ManagedKafka(admin) => admin.broker_count(timeout).await.map(|_| ()),
                Probe::Redis(admin) => admin.ping().await,
            }
        };
        tokio::time::timeout(timeout + Duration::from_millis(500), attempt)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
    }
}

/// Asks the broker(s) for cluster metadata through librdkafka; returns the
/// number of brokers.
pub async fn kafka_metadata(bootstrap: String, timeout: Duration) -> Result<usize, String> {
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set(
                "socket.connection.setup.timeout.ms",
                timeout.as_millis().max(1000).to_string(),
            )
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "200")
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .map_err(|e| format!("cannot create a librdkafka client: {e}"))?;
        let metadata = consumer
            .fetch_metadata(None, timeout)
            .map_err(|e| format!("metadata request failed: {e}"))?;
        if metadata.brokers().is_empty() {
            return Err("the metadata lists no broker".to_string());
        }
        Ok(metadata.brokers().len())
    })
    .await
    .map_err(|e| format!("the metadata request panicked: {e}"))?
}

/// Probes until the service answers or `deadline` passes; returns how long it took.
pub async fn wait_ready(
    engine: &Engine,
    probe: &Probe,
    address: &str,
    container: Option<&str>,
    deadline: Duration,
) -> Result<Duration, ServiceError> {
    let kind = probe.kind();
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut last_error;
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        match probe
            .once(left.clamp(Duration::from_millis(200), Duration::from_secs(3)))
            .await
        {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) => last_error = e,
        }
        if let Some(id) = container {
            match engine.inspect_container(id).await? {
                Some(details) if details.running => {}
                other => {
                    return Err(ServiceError::Exited {
                        kind,
                        container: id.to_string(),
                        exit_code: other.and_then(|d| d.exit_code),
                        log_tail: log_tail(engine, id).await,
                    })
                }
            }
        }
        if started.elapsed() >= deadline {
            return Err(ServiceError::NotReady {
                kind,
                address: address.to_string(),
                waited_secs: started.elapsed().as_secs(),
                last_error,
                log_tail: match container {
                    Some(id) => log_tail(engine, id).await,
                    None => "(external service: no log)".into(),
                },
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The last 30 log lines of a container, or why they could not be read.
pub async fn log_tail(engine: &Engine, container: &str) -> String {
    match engine.container_logs(container, 30).await {
        Ok(text) if text.trim().is_empty() => "(empty)".into(),
        Ok(text) => text.trim_end().to_string(),
        Err(e) => format!("(could not read the log: {e})"),
    }
}
