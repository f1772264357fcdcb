//! What sandboxes need before the first one starts: the base and datapoint
//! images (built or reused, logs in the run folder) and the service images
//! of their pods.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use racebench_model::{Datapoint, ServiceKind};

use crate::base_image::ensure_base;
use crate::cache_dir::cache_dir;
use crate::datapoint_files::DatapointFiles;
use crate::datapoint_image::ensure_datapoint_image;
use crate::engine::Engine;
use crate::pod::ServiceLimits;
use crate::services::{pod_images, ServiceSource, ServicesConfig};
use crate::trial::PodTemplate;

/// A datapoint and its image tag.
pub struct DatapointImage {
    pub datapoint: Arc<Datapoint>,
    pub image: String,
}

/// Why images for sandboxes could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("failed to build the image of {what} (log: {log})")]
    Image {
        what: String,
        log: String,
        #[source]
        source: crate::image::ImageError,
    },
    #[error("failed to get the service images")]
    Services(#[from] crate::services::ServiceError),
    #[error("failed to read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandboxes run services in their pod; unset the external {0} server (RACEBENCH_*_URL) to evaluate agents")]
    External(&'static str),
}

/// Builds (or reuses) every image the sandboxes of `datapoints` need.
pub async fn prepare_images(
    engine: &Engine,
    datapoints: &[Datapoint],
    services: &ServicesConfig,
    logs: &Path,
    say: &(dyn Fn(String) + Sync),
) -> Result<(Vec<DatapointImage>, PodTemplate), ImagesError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ImagesError::Io { path, source }
    };
    std::fs::create_dir_all(logs).map_err(io(logs))?;
    let base = ensure_base(engine, &cache_dir().join("base"), &mut |line: &str| {
        say(format!("  base: {line}"))
    })
    .await
    .map_err(|source| ImagesError::Image {
        what: "the base image".into(),
        log: "-".into(),
        source,
    })?;
    let mut out = Vec::new();
    let mut needed: BTreeSet<ServiceKind> = BTreeSet::new();
    for dp in datapoints {
        let files = DatapointFiles::read(dp).map_err(io(&dp.dir))?;
        let log_path = logs.join(format!("{}.log", dp.spec.id));
        let mut log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let image = ensure_datapoint_image(engine, dp, &files.image_context(), &base.id, |line| {
            let _ = writeln!(log, "{line}");
        })
        .await
        .map_err(|source| ImagesError::Image {
            what: format!("datapoint {}", dp.spec.id),
            log: log_path.display().to_string(),
            source,
        })?;
        say(format!("image {} ready", image.tag));
        for &kind in &dp.spec.services {
            if !matches!(services.source(kind), ServiceSource::Managed { .. }) {
                return Err(ImagesError::External(kind.as_str()));
            }
        }
        needed.extend(dp.spec.services.iter().copied());
        out.push(DatapointImage {
            datapoint: Arc::new(dp.clone()),
            image: image.tag,
        });
    }
    let mut on_line = |line: &str| say(format!("  services: {line}"));
    let images = pod_images(engine, services, &needed, &mut on_line).await?;
    Ok((
        out,
        PodTemplate {
            images,
            external: Vec::new(),
            service_limits: ServiceLimits::default(),
            ready_timeout: services.ready_timeout,
        },
    ))
}
