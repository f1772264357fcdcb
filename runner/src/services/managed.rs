//! The services racebench runs itself: one long-lived container per kind,
//! named `racebench-<kind>`, from an image built offline from an embedded
//! Dockerfile on the Debian base (or an image the user names instead).

use std::collections::HashMap;

use racebench_model::ServiceKind;

use super::error::ServiceError;
use super::nisshi::ensure_nisshi;
use crate::archive::FileSet;
use crate::base_image::ensure_base;
use crate::cache_dir::cache_dir;
use crate::engine::Engine;
use crate::image::{ensure_image, Provenance, ReadyImage};
use crate::labels;

const POSTGRES_DOCKERFILE: &str = include_str!("../../images/postgres/Dockerfile");
const REDIS_DOCKERFILE: &str = include_str!("../../images/redis/Dockerfile");
const REDIS_CONF: &str = include_str!("../../images/redis/redis.conf");
const KAFKA_DOCKERFILE: &str = include_str!("../../images/kafka/Dockerfile");

/// Credentials of the managed Postgres superuser and Redis admin user. The
/// services are reachable only from 127.0.0.1 and from trial networks, and
/// trials get roles of their own, so these are not secrets.
pub const ADMIN_USER: &str = "racebench";
pub const ADMIN_PASSWORD: &str = "racebench";

/// What racebench needs to know about a managed service.
#[derive(Debug, Clone, Copy)]
pub struct Managed {
    pub kind: ServiceKind,
    /// Container name, e.g. `racebench-postgres`.
    pub container: &'static str,
    /// Repository of the image racebench builds.
    pub repo: &'static str,
    /// Port inside the container (and on trial networks).
    pub port: u16,
}

impl Managed {
    pub fn of(kind: ServiceKind) -> Managed {
        match kind {
            ServiceKind::Postgres => Managed {
                kind,
                container: "racebench-postgres",
                repo: "racebench/postgres",
                port: 5432,
            },
            ServiceKind::Kafka => Managed {
                kind,
                container: "racebench-kafka",
                repo: "racebench/kafka",
                port: 9092,
            },
            ServiceKind::Redis => Managed {
                kind,
                container: "racebench-redis",
                repo: "racebench/redis",
                port: 6379,
            },
        }
    }

    /// The DNS name trials use (`postgres`, `kafka`, `redis`).
    pub fn alias(&self) -> &'static str {
        self.kind.as_str()
    }

    /// `5432/tcp`.
    pub fn port_key(&self) -> String {
        format!("{}/tcp", self.port)
    }

    /// Environment for the container: credentials in the convention of the
    /// official images, so an overriding image (e.g. `postgres:15`) works too.
    pub fn env(&self) -> Vec<(String, String)> {
        match self.kind {
            ServiceKind::Postgres => vec![
                ("POSTGRES_USER".into(), ADMIN_USER.into()),
                ("POSTGRES_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ],
            _ => Vec::new(),
        }
    }
}

/// The build context of racebench's own image of `kind` (the Kafka one
/// needs the broker binary, built first if missing).
async fn build_context(
    kind: ServiceKind,
    on_line: &mut dyn FnMut(&str),
) -> Result<FileSet, ServiceError> {
    let mut files = FileSet::new();
    match kind {
        ServiceKind::Postgres => {
            files.add("Dockerfile", POSTGRES_DOCKERFILE.as_bytes().to_vec(), 0o644)
        }
        ServiceKind::Redis => {
            files.add("Dockerfile", REDIS_DOCKERFILE.as_bytes().to_vec(), 0o644);
            files.add("redis.conf", REDIS_CONF.as_bytes().to_vec(), 0o644);
        }
        ServiceKind::Kafka => {
            let binary = ensure_nisshi(on_line).await?;
            let bytes = tokio::fs::read(&binary)
                .await
                .map_err(|e| ServiceError::BrokerBuild {
                    version: super::nisshi::NISSHI_VERSION.into(),
                    message: format!("cannot read {}: {e}", binary.display()),
                    log_tail: String::new(),
                })?;
            files.add("Dockerfile", KAFKA_DOCKERFILE.as_bytes().to_vec(), 0o644);
            files.add("nisshi", bytes, 0o755);
        }
    }
    Ok(files)
}

/// Racebench's own image of `kind`, built unless one from the same Dockerfile,
/// files and base image exists.
pub async fn ensure_service_image(
    engine: &Engine,
    kind: ServiceKind,
    on_line: &mut dyn FnMut(&str),
) -> Result<ReadyImage, ServiceError> {
    let image_error = |source| ServiceError::Image { kind, source };
    let base = ensure_base(engine, &cache_dir().join("base"), on_line)
        .await
        .map_err(image_error)?;
    let context = build_context(kind, on_line).await?;
    let extra = HashMap::from([
        (labels::ROLE.to_string(), "service-image".to_string()),
        (labels::SERVICE.to_string(), kind.as_str().to_string()),
    ]);
    let managed = Managed::of(kind);
    let image = ensure_image(
        engine,
        managed.repo,
        &context,
        "Dockerfile",
        &base.id,
        extra,
        |line| on_line(line),
    )
    .await
    .map_err(image_error)?;
    if image.provenance == Provenance::Built {
        on_line(&format!("built {}", image.tag));
    }
    Ok(image)
}

/// The image to run for `kind`: the override if given (pulled if absent),
/// else racebench's own.
pub async fn image_for(
    engine: &Engine,
    kind: ServiceKind,
    override_image: Option<&str>,
    on_line: &mut dyn FnMut(&str),
) -> Result<String, ServiceError> {
    match override_image {
        Some(image) => {
            if engine.image(image).await?.is_none() {
                on_line(&format!("pulling {image}"));
                engine.pull(image).await?;
            }
            Ok(image.to_string())
        }
        None => Ok(ensure_service_image(engine, kind, on_line).await?.tag),
    }
}
