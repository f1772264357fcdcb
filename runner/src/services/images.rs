//! The images of the services racebench runs in every pod, built offline
//! from embedded Dockerfiles on the Debian base (or an image the user names
//! instead). These, and external endpoints, are all that trials share.

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
const POSTGRES_START: &str = include_str!("../../images/postgres/start.sh");
const REDIS_DOCKERFILE: &str = include_str!("../../images/redis/Dockerfile");
const REDIS_CONF: &str = include_str!("../../images/redis/redis.conf");
const REDIS_START: &str = include_str!("../../images/redis/start.sh");
const KAFKA_DOCKERFILE: &str = include_str!("../../images/kafka/Dockerfile");

/// The repository of racebench's own image of `kind`.
pub fn repo(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::Postgres => "racebench/postgres",
        ServiceKind::Kafka => "racebench/kafka",
        ServiceKind::Redis => "racebench/redis",
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
            files.add("Dockerfile", POSTGRES_DOCKERFILE.as_bytes().to_vec(), 0o644);
            files.add("start.sh", POSTGRES_START.as_bytes().to_vec(), 0o755);
        }
        ServiceKind::Redis => {
            files.add("Dockerfile", REDIS_DOCKERFILE.as_bytes().to_vec(), 0o644);
            files.add("redis.conf", REDIS_CONF.as_bytes().to_vec(), 0o644);
            files.add("start.sh", REDIS_START.as_bytes().to_vec(), 0o755);
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
    // Hashing the 65 MB broker binary on every start is slow on a busy
    // machine: a memo of the last image built from the same inputs (file
    // sizes and times, base image) finds it without reading the context.
    let memo_key = memo_key(kind, &base.id, on_line).await?;
    if let Some(image) = memo_lookup(engine, kind, &memo_key).await? {
        return Ok(image);
    }
    let context = build_context(kind, on_line).await?;
    let extra = HashMap::from([
        (labels::ROLE.to_string(), "service-image".to_string()),
        (labels::SERVICE.to_string(), kind.as_str().to_string()),
    ]);
    let image = ensure_image(
        engine,
        repo(kind),
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
    memo_store(kind, &memo_key, &image);
    Ok(image)
}

/// What an image of `kind` is built from, cheaply: the embedded files, the
/// base image id and (Kafka) the broker binary's path, size and mtime.
async fn memo_key(
    kind: ServiceKind,
    base_id: &str,
    on_line: &mut dyn FnMut(&str),
) -> Result<String, ServiceError> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(base_id.as_bytes());
    for text in [
        POSTGRES_DOCKERFILE,
        POSTGRES_START,
        REDIS_DOCKERFILE,
        REDIS_CONF,
        REDIS_START,
        KAFKA_DOCKERFILE,
    ] {
        hasher.update(text.as_bytes());
    }
    if kind == ServiceKind::Kafka {
        let binary = ensure_nisshi(on_line).await?;
        let meta = std::fs::metadata(&binary).ok();
        let mtime = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.update(binary.to_string_lossy().as_bytes());
        hasher.update(meta.map(|m| m.len()).unwrap_or_default().to_le_bytes());
        hasher.update(mtime.to_le_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

fn memo_path(kind: ServiceKind) -> std::path::PathBuf {
    cache_dir().join("service-images").join(kind.as_str())
}

/// The memoised image, if the engine still has it with the same content hash.
async fn memo_lookup(
    engine: &Engine,
    kind: ServiceKind,
    key: &str,
) -> Result<Option<ReadyImage>, ServiceError> {
    let Ok(text) = std::fs::read_to_string(memo_path(kind)) else {
        return Ok(None);
    };
    let mut fields = text.split_whitespace();
    let (Some(memo_key), Some(tag), Some(hash)) = (fields.next(), fields.next(), fields.next())
    else {
        return Ok(None);
    };
    if memo_key != key {
        return Ok(None);
    }
    Ok(engine
        .image(tag)
        .await?
        .filter(|found| found.labels.get(labels::CONTENT_HASH).map(String::as_str) == Some(hash))
        .map(|found| ReadyImage {
            tag: tag.to_string(),
            id: found.id,
            content_hash: hash.to_string(),
            provenance: Provenance::Reused,
        }))
}

fn memo_store(kind: ServiceKind, key: &str, image: &ReadyImage) {
    let path = memo_path(kind);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            format!("{key} {} {}\n", image.tag, image.content_hash),
        )?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::debug!("could not remember the {kind} image: {e}");
    }
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
