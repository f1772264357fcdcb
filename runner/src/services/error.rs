//! Why a service image could not be built, or an external service could not
//! be reached, provisioned or cleaned up. Messages read after "failed to ...".

use racebench_model::ServiceKind;

use crate::engine::EngineError;
use crate::image::ImageError;

/// A failed services operation.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("failed to build the {kind} image")]
    Image {
        kind: ServiceKind,
        #[source]
        source: ImageError,
    },
    #[error("failed to build the broker binary nisshi {version}: {message}")]
    BrokerBuild {
        version: String,
        message: String,
        /// The last lines of the cargo output.
        log_tail: String,
    },
    #[error("invalid {variable}: {message}")]
    Config { variable: String, message: String },
    #[error("external {kind} did not answer within {waited_secs} s at {address}: {last_error}")]
    NotReady {
        kind: ServiceKind,
        address: String,
        waited_secs: u64,
        last_error: String,
    },
    #[error("failed to {action} in postgres: {message}")]
    Postgres { action: String, message: String },
    #[error("failed to {action} in kafka: {message}")]
    Kafka { action: String, message: String },
    #[error("failed to {action} in redis: {message}")]
    Redis { action: String, message: String },
    #[error("every redis database index is in use by a running trial ({count}); raise `--databases` or run fewer trials at once")]
    RedisExhausted { count: u32 },
}

impl ServiceError {
    pub(crate) fn postgres(action: impl Into<String>, err: impl std::fmt::Display) -> ServiceError {
        ServiceError::Postgres {
            action: action.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn kafka(action: impl Into<String>, err: impl std::fmt::Display) -> ServiceError {
        ServiceError::Kafka {
            action: action.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn redis(action: impl Into<String>, err: impl std::fmt::Display) -> ServiceError {
        ServiceError::Redis {
            action: action.into(),
            message: err.to_string(),
        }
    }
}
