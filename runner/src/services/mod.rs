//! The services trials use (Postgres, a Kafka-protocol broker, Redis): the
//! images the pods run them from, built offline, and external servers for
//! users who must use a managed cluster. Services themselves run in each
//! trial's pod (see `pod`). See docs/services.md.

mod config;
mod error;
mod external;
mod images;
mod naming;
mod nisshi;
mod postgres;
mod readiness;
mod redis;
mod shared;
mod status;

pub use config::{ServiceSource, ServiceUrl, ServicesConfig, ENV_VARS, READY_ENV};
pub use error::ServiceError;
pub use external::External;
pub use images::{ensure_service_image, image_for, repo};
pub use naming::{owner_of, Owner, TrialNames, DB_PREFIX, TOPIC_PREFIX};
pub use nisshi::{ensure_nisshi, nisshi_binary, nisshi_root, NISSHI_BIN_ENV, NISSHI_VERSION};
pub use postgres::{PostgresAdmin, PostgresGrant};
pub use readiness::{kafka_metadata, Probe};
pub use redis::{RedisAdmin, Reply};
pub use shared::{build, down, pod_images, up};
pub use status::{status, ServiceStatus};
