//! What every service container of a pod has in common: the image to run, its
//! container environment, the environment the main container gets, and the
//! readiness probe racebench runs inside the service's own container. Each
//! kind fills these in its own file.

use std::collections::BTreeMap;

use racebench_model::{ServiceKind, TopicSpec};

use super::{kafka, postgres, redis};
use crate::engine::ContainerLimits;

/// The image each managed service kind runs as (racebench's own, or the
/// user's override).
pub type ServiceImages = BTreeMap<ServiceKind, String>;

/// Limits of every service container (the main container has the datapoint's).
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    pub memory_mb: u64,
    pub pids: i64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            memory_mb: 512,
            pids: 512,
        }
    }
}

impl ServiceLimits {
    pub(super) fn container(&self) -> ContainerLimits {
        ContainerLimits {
            memory_bytes: Some((self.memory_mb * 1024 * 1024) as i64),
            nano_cpus: None,
            pids: Some(self.pids),
        }
    }
}

/// One service of one pod, with credentials made for it.
#[derive(Debug, Clone)]
pub struct Blueprint {
    pub kind: ServiceKind,
    /// The service container's environment.
    pub container_env: Vec<(String, String)>,
    /// What the main container is told (the trial contract).
    pub trial_env: Vec<(String, String)>,
    /// Run inside the service container; exits 0 once the service answers
    /// (and has what the trial needs, e.g. its topics). It loops on its own;
    /// racebench bounds it with the readiness deadline.
    pub probe: Vec<String>,
}

impl Blueprint {
    pub fn new(kind: ServiceKind, topics: &[TopicSpec]) -> Blueprint {
        match kind {
            ServiceKind::Postgres => postgres::blueprint(),
            ServiceKind::Kafka => kafka::blueprint(topics),
            ServiceKind::Redis => redis::blueprint(),
        }
    }

    /// The DNS name of the service in its pod (`postgres`, `kafka`, `redis`).
    pub fn alias(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// The environment variable naming a declared topic: `KAFKA_TOPIC_<NAME>`.
pub fn topic_variable(topic: &str) -> String {
    let name: String = topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("KAFKA_TOPIC_{name}")
}

/// `sh -c SCRIPT sh ARGS...`: a probe script with positional arguments.
pub(super) fn shell(script: &str, args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "sh".to_string(),
    ];
    cmd.extend(args);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_variables_are_upper_snake_case() {
        assert_eq!(
            topic_variable("inventory-events"),
            "KAFKA_TOPIC_INVENTORY_EVENTS"
        );
        assert_eq!(topic_variable("a.b_c"), "KAFKA_TOPIC_A_B_C");
    }

    #[test]
    fn every_pod_gets_credentials_of_its_own() {
        let a = Blueprint::new(ServiceKind::Postgres, &[]);
        let b = Blueprint::new(ServiceKind::Postgres, &[]);
        let url = |bp: &Blueprint| {
            bp.trial_env
                .iter()
                .find(|(k, _)| k == "DATABASE_URL")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_ne!(url(&a), url(&b));
        let a = Blueprint::new(ServiceKind::Redis, &[]);
        let b = Blueprint::new(ServiceKind::Redis, &[]);
        assert_ne!(a.container_env, b.container_env);
    }
}
