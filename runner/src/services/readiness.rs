//! Readiness probes of external services, from the host, repeated until a
//! deadline: `SELECT 1` through sqlx, a Kafka Metadata request through
//! rdkafka, `PING` for Redis. (Services in a pod are probed from inside it;
//! see `pod`.)

use std::time::{Duration, Instant};

use racebench_model::ServiceKind;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::error::ServiceError;
use super::postgres::PostgresAdmin;
use super::redis::RedisAdmin;

/// How to ask one service whether it is ready.
#[derive(Debug, Clone)]
pub enum Probe {
    Postgres(PostgresAdmin),
    /// An external cluster's bootstrap list, whose advertised addresses
    /// resolve from here.
    Kafka(String),
    Redis(RedisAdmin),
}

impl Probe {
    pub fn kind(&self) -> ServiceKind {
        match self {
            Probe::Postgres(_) => ServiceKind::Postgres,
            Probe::Kafka(_) => ServiceKind::Kafka,
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

/// Probes until the external service answers or `deadline` passes; returns
/// how long it took.
pub async fn wait_ready(
    probe: &Probe,
    address: &str,
    deadline: Duration,
) -> Result<Duration, ServiceError> {
    let kind = probe.kind();
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        let last_error = match probe
            .once(left.clamp(Duration::from_millis(200), Duration::from_secs(3)))
            .await
        {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) => e,
        };
        if started.elapsed() >= deadline {
            return Err(ServiceError::NotReady {
                kind,
                address: address.to_string(),
                waited_secs: started.elapsed().as_secs(),
                last_error,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}
