//! What remains shared between trials, behind `racebench services
//! build|up|down`: the service images, and the external endpoints.

use std::collections::BTreeSet;

use racebench_model::ServiceKind;

use super::config::{ServiceSource, ServicesConfig};
use super::error::ServiceError;
use super::external::External;
use super::images::{ensure_service_image, image_for};
use super::status::{status, ServiceStatus};
use crate::engine::Engine;
use crate::image::ReadyImage;
use crate::labels;
use crate::pod::ServiceImages;

/// Builds racebench's own image of every service (those the user replaced
/// with an image of theirs, or with an external server, are skipped).
pub async fn build(
    engine: &Engine,
    config: &ServicesConfig,
    on_line: &mut dyn FnMut(&str),
) -> Result<Vec<(ServiceKind, ReadyImage)>, ServiceError> {
    let mut built = Vec::new();
    for kind in ServiceKind::ALL {
        if let ServiceSource::Managed { image: None } = config.source(kind) {
            built.push((kind, ensure_service_image(engine, kind, on_line).await?));
        }
    }
    Ok(built)
}

/// The image each of the `needed` managed services runs in pods: built or
/// pulled now if missing.
pub async fn pod_images(
    engine: &Engine,
    config: &ServicesConfig,
    needed: &BTreeSet<ServiceKind>,
    on_line: &mut dyn FnMut(&str),
) -> Result<ServiceImages, ServiceError> {
    let mut images = ServiceImages::new();
    for &kind in needed {
        if let ServiceSource::Managed { image } = config.source(kind) {
            images.insert(
                kind,
                image_for(engine, kind, image.as_deref(), on_line).await?,
            );
        }
    }
    Ok(images)
}

/// Gets everything shared ready ahead of runs: the images built, external
/// servers answering. Nothing keeps running afterwards.
pub async fn up(
    engine: &Engine,
    config: &ServicesConfig,
    needed: &BTreeSet<ServiceKind>,
    on_line: &mut dyn FnMut(&str),
) -> Result<Vec<ServiceStatus>, ServiceError> {
    let images = pod_images(engine, config, needed, on_line).await?;
    for (kind, image) in &images {
        on_line(&format!("{kind}: {image} (started in each trial's pod)"));
    }
    External::connect(config, needed).await?;
    Ok(status(engine, config).await)
}

/// Removes the long-lived service containers and network of racebench
/// versions before per-trial pods (nothing of today's racebench outlives its
/// run); returns how many objects were removed.
pub async fn down(engine: &Engine) -> Result<usize, ServiceError> {
    let mut removed = 0;
    let role = |l: &std::collections::HashMap<String, String>| l.get(labels::ROLE).cloned();
    for c in engine.containers_with_label(labels::OWNER).await? {
        if role(&c.labels).as_deref() == Some("service") && !c.labels.contains_key(labels::POD) {
            engine.remove_container(&c.id).await?;
            removed += 1;
        }
    }
    for n in engine.networks_with_label(labels::OWNER).await? {
        if role(&n.labels).as_deref() == Some("services-network") {
            crate::guard::remove_network_fully(engine, &n.id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
