//! Live services for trials (Postgres, a Kafka-protocol broker, Redis):
//! images built offline, long-lived containers shared by runs, and per-trial
//! isolation (own database, topic prefix, Redis database, contained network).
//! See docs/services.md.

mod config;
mod error;
mod kafka_admin;
mod lifecycle;
mod managed;
mod naming;
mod network;
mod nisshi;
mod postgres;
mod readiness;
mod redis;
mod status;
mod sweep;
mod trial;

pub use config::{ServiceSource, ServiceUrl, ServicesConfig, ENV_VARS, READY_ENV};
pub use error::ServiceError;
pub use kafka_admin::{KafkaAdmin, TopicInfo};
pub use lifecycle::{build, down, up, Endpoint, Services};
pub use managed::{ensure_service_image, Managed, ADMIN_PASSWORD, ADMIN_USER};
pub use naming::{owner_of, Owner, TrialKey, TrialNames, DB_PREFIX, TOPIC_PREFIX};
pub use network::{ensure_services_network, NetworkDetails, INHIBIT_HOST_OPTION, SERVICES_NETWORK};
pub use nisshi::{ensure_nisshi, nisshi_binary, nisshi_root, NISSHI_BIN_ENV, NISSHI_VERSION};
pub use postgres::{PostgresAdmin, PostgresGrant, TEMPLATE_DB};
pub use readiness::{kafka_metadata, Probe};
pub use redis::{RedisAdmin, Reply};
pub use status::{status, ServiceStatus};
pub use sweep::{sweep_leftovers, SweepReport};
pub use trial::TrialServices;
