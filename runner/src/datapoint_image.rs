//! A datapoint's image: built from its folder (minus what must not be in it,
//! see `datapoint_files`) on the base image, tagged `racebench/dp-<id>:<hash>`, and reused until the
//! folder's content or the base image changes.

use std::collections::HashMap;

use racebench_model::Datapoint;

use crate::archive::FileSet;
use crate::engine::Engine;
use crate::image::{ensure_image, ImageError, ReadyImage};
use crate::labels;

/// Builds (or reuses) the image of a datapoint on the base image `base_id`.
pub async fn ensure_datapoint_image(
    engine: &Engine,
    datapoint: &Datapoint,
    context: &FileSet,
    base_id: &str,
    on_line: impl FnMut(&str),
) -> Result<ReadyImage, ImageError> {
    let dockerfile = datapoint
        .spec
        .image
        .dockerfile
        .to_string_lossy()
        .replace('\\', "/");
    let extra = HashMap::from([(labels::DATAPOINT.to_string(), datapoint.spec.id.clone())]);
    ensure_image(
        engine,
        &format!("racebench/dp-{}", datapoint.spec.id),
        context,
        &dockerfile,
        base_id,
        extra,
        on_line,
    )
    .await
}
