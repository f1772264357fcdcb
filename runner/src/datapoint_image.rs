//! A datapoint's image: built from its folder (minus what must not be in it)
//! on the base image, tagged `racebench/dp-<id>:<hash>`, and reused until the
//! folder's content or the base image changes.

use std::collections::HashMap;

use racebench_model::Datapoint;

use crate::archive::FileSet;
use crate::engine::Engine;
use crate::image::{ensure_image, ImageError, ReadyImage};
use crate::labels;

/// Top-level entries of a datapoint folder never sent to the image build:
/// the solutions, and files that change without changing the image (so a
/// README rewritten by `validate --write-rates` does not force a rebuild).
pub const NOT_IN_IMAGE: &[&str] = &["solutions", "README.md", "prompt.md", "datapoint.toml"];

/// The build context of a datapoint: its folder without the hidden tests and
/// the entries of [`NOT_IN_IMAGE`].
pub fn build_context(datapoint: &Datapoint) -> Result<FileSet, ImageError> {
    let hidden = datapoint
        .spec
        .test
        .hidden
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    let mut exclude: Vec<&str> = NOT_IN_IMAGE.to_vec();
    // Only a top-level hidden folder can be excluded by name; nested ones are
    // rejected by validation of the spec elsewhere.
    exclude.push(hidden.as_str());
    FileSet::from_dir(&datapoint.dir, &exclude).map_err(|source| ImageError::Context {
        path: datapoint.dir.display().to_string(),
        source,
    })
}

/// Builds (or reuses) the image of a datapoint on the base image `base_id`.
pub async fn ensure_datapoint_image(
    engine: &Engine,
    datapoint: &Datapoint,
    base_id: &str,
    on_line: impl FnMut(&str),
) -> Result<ReadyImage, ImageError> {
    let context = build_context(datapoint)?;
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
        &context,
        &dockerfile,
        base_id,
        extra,
        on_line,
    )
    .await
}
