//! Where each service comes from: a container racebench manages (from its own
//! image or one the user names) or an external server given by URL. Read from
//! `RACEBENCH_*` environment variables; the CLI may override fields.

use std::time::Duration;

use racebench_model::ServiceKind;

use super::error::ServiceError;

/// How racebench gets one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSource {
    /// A long-lived container racebench starts (`racebench-<kind>`). `image`
    /// replaces the image racebench builds (it must behave the same way; see
    /// docs/services.md).
    Managed { image: Option<String> },
    /// A server racebench does not run. `admin` is the address racebench itself
    /// uses (a URL for Postgres and Redis, a bootstrap list for Kafka);
    /// `for_trials` is the `host:port` trial containers are given.
    External { admin: String, for_trials: String },
}

impl ServiceSource {
    pub fn is_managed(&self) -> bool {
        matches!(self, ServiceSource::Managed { .. })
    }
}

/// Where every service comes from, and how long to wait for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesConfig {
    pub postgres: ServiceSource,
    pub kafka: ServiceSource,
    pub redis: ServiceSource,
    /// Deadline for a service to answer its readiness probe.
    pub ready_timeout: Duration,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            postgres: ServiceSource::Managed { image: None },
            kafka: ServiceSource::Managed { image: None },
            redis: ServiceSource::Managed { image: None },
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// The environment variables read by [`ServicesConfig::from_env`], per service:
/// (admin address, address for trials, image override).
pub const ENV_VARS: [(ServiceKind, &str, &str, &str); 3] = [
    (
        ServiceKind::Postgres,
        "RACEBENCH_POSTGRES_URL",
        "RACEBENCH_POSTGRES_TRIAL_ADDR",
        "RACEBENCH_POSTGRES_IMAGE",
    ),
    (
        ServiceKind::Kafka,
        "RACEBENCH_KAFKA_BOOTSTRAP",
        "RACEBENCH_KAFKA_TRIAL_BOOTSTRAP",
        "RACEBENCH_KAFKA_IMAGE",
    ),
    (
        ServiceKind::Redis,
        "RACEBENCH_REDIS_URL",
        "RACEBENCH_REDIS_TRIAL_ADDR",
        "RACEBENCH_REDIS_IMAGE",
    ),
];

/// Seconds to wait for readiness (`RACEBENCH_SERVICES_READY_SECS`).
pub const READY_ENV: &str = "RACEBENCH_SERVICES_READY_SECS";

impl ServicesConfig {
    /// Reads the `RACEBENCH_*` variables of the process environment.
    pub fn from_env() -> Result<ServicesConfig, ServiceError> {
        ServicesConfig::from_lookup(|name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
    }

    /// Like [`from_env`](Self::from_env) with a custom variable lookup (for tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ServicesConfig, ServiceError> {
        let mut config = ServicesConfig::default();
        for (kind, admin_var, trial_var, image_var) in ENV_VARS {
            let admin = lookup(admin_var);
            let trial = lookup(trial_var);
            let image = lookup(image_var);
            let source = match (admin, image) {
                (Some(_), Some(_)) => {
                    return Err(ServiceError::Config {
                        variable: format!("{admin_var} and {image_var}"),
                        message: "both are set; an external server and a managed image exclude each other, unset one".into(),
                    })
                }
                (Some(admin), None) => {
                    let default_trial = default_trial_address(kind, &admin).map_err(|message| ServiceError::Config {
                        variable: admin_var.to_string(),
                        message,
                    })?;
                    ServiceSource::External {
                        admin,
                        for_trials: trial.unwrap_or(default_trial),
                    }
                }
                (None, image) => {
                    if trial.is_some() {
                        return Err(ServiceError::Config {
                            variable: trial_var.to_string(),
                            message: format!("it only applies to an external server; set {admin_var} too or unset it"),
                        });
                    }
                    ServiceSource::Managed { image }
                }
            };
            *config.source_mut(kind) = source;
        }
        if let Some(secs) = lookup(READY_ENV) {
            let secs: u64 = secs.trim().parse().map_err(|_| ServiceError::Config {
                variable: READY_ENV.to_string(),
                message: format!("`{secs}` is not a number of seconds"),
            })?;
            config.ready_timeout = Duration::from_secs(secs.max(1));
        }
        Ok(config)
    }

    pub fn source(&self, kind: ServiceKind) -> &ServiceSource {
        match kind {
            ServiceKind::Postgres => &self.postgres,
            ServiceKind::Kafka => &self.kafka,
            ServiceKind::Redis => &self.redis,
        }
    }

    pub fn source_mut(&mut self, kind: ServiceKind) -> &mut ServiceSource {
        match kind {
            ServiceKind::Postgres => &mut self.postgres,
            ServiceKind::Kafka => &mut self.kafka,
            ServiceKind::Redis => &mut self.redis,
        }
    }

    /// Whether every service racebench hands to trials runs in a container it
    /// manages, so trial networks can stay internal.
    pub fn fully_contained(&self) -> bool {
        ServiceKind::ALL
            .iter()
            .all(|k| self.source(*k).is_managed())
    }
}

/// `host:port` of an admin address, used for trials unless told otherwise.
fn default_trial_address(kind: ServiceKind, admin: &str) -> Result<String, String> {
    match kind {
        ServiceKind::Kafka => {
            let first = admin.split(',').next().unwrap_or_default().trim();
            if first.is_empty() || !first.contains(':') {
                return Err(format!(
                    "`{admin}` is not a bootstrap list like `broker:9092`"
                ));
            }
            Ok(admin.trim().to_string())
        }
        ServiceKind::Postgres | ServiceKind::Redis => {
            let url = ServiceUrl::parse(admin)?;
            Ok(format!("{}:{}", url.host, url.port))
        }
    }
}

/// The parts of a `postgres://` or `redis://` URL racebench needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    /// The path without its leading `/` (database name or Redis index).
    pub path: String,
}

impl ServiceUrl {
    pub fn parse(url: &str) -> Result<ServiceUrl, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("`{url}` is not a URL like scheme://user:password@host:port/name")
        })?;
        let default_port = match scheme {
            "postgres" | "postgresql" => 5432,
            "redis" => 6379,
            other => {
                return Err(format!(
                    "unsupported scheme `{other}`; use postgres:// or redis://"
                ))
            }
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.split('?').next().unwrap_or_default().to_string();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user.to_string()), Some(pw.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` in `{url}` is not a port"))?,
            ),
            _ => (hostport.to_string(), default_port),
        };
        if host.is_empty() {
            return Err(format!("`{url}` names no host"));
        }
        Ok(ServiceUrl {
            scheme: scheme.to_string(),
            user: user.filter(|u| !u.is_empty()),
            password,
            host,
            port,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServicesConfig, ServiceError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServicesConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_everything_managed_by_racebench() {
        let c = config(&[]).unwrap();
        assert!(c.fully_contained());
        assert_eq!(c.kafka, ServiceSource::Managed { image: None });
    }

    #[test]
    fn external_urls_give_trials_their_host_and_port_unless_overridden() {
        let c = config(&[
            (
                "RACEBENCH_POSTGRES_URL",
                "postgres://admin:pw@db.internal:6543/postgres",
            ),
            ("RACEBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            ("RACEBENCH_KAFKA_TRIAL_BOOTSTRAP", "broker:9092"),
            ("RACEBENCH_REDIS_IMAGE", "redis:7"),
        ])
        .unwrap();
        assert_eq!(
            c.postgres,
            ServiceSource::External {
                admin: "postgres://admin:pw@db.internal:6543/postgres".into(),
                for_trials: "db.internal:6543".into()
            }
        );
        assert_eq!(
            c.kafka,
            ServiceSource::External {
                admin: "127.0.0.1:9092".into(),
                for_trials: "broker:9092".into()
            }
        );
        assert_eq!(
            c.redis,
            ServiceSource::Managed {
                image: Some("redis:7".into())
            }
        );
        assert!(!c.fully_contained());
    }

    #[test]
    fn url_and_image_for_one_service_is_refused_naming_both_variables() {
        let err = config(&[
            ("RACEBENCH_REDIS_URL", "redis://h:1"),
            ("RACEBENCH_REDIS_IMAGE", "redis:7"),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("RACEBENCH_REDIS_URL and RACEBENCH_REDIS_IMAGE"),
            "{err}"
        );
    }

    #[test]
    fn trial_address_without_external_server_is_refused() {
        let err = config(&[("RACEBENCH_REDIS_TRIAL_ADDR", "redis:6379")]).unwrap_err();
        assert!(
            err.to_string().contains("RACEBENCH_REDIS_TRIAL_ADDR"),
            "{err}"
        );
    }

    #[test]
    fn urls_parse_with_and_without_credentials_and_ports() {
        let u = ServiceUrl::parse("redis://:secret@cache:7000/3").unwrap();
        assert_eq!(
            (
                u.user,
                u.password.as_deref(),
                u.host.as_str(),
                u.port,
                u.path.as_str()
            ),
            (None, Some("secret"), "cache", 7000, "3")
        );
        let u = ServiceUrl::parse("postgresql://db/app?sslmode=disable").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("db", 5432, "app")
        );
        assert!(ServiceUrl::parse("mysql://x").is_err());
        assert!(ServiceUrl::parse("postgres://u@:5432/x").is_err());
    }
}
