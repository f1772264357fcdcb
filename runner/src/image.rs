//! Images built through the engine and reused until what they were built from
//! changes: the content hash of the build context (and of the base image) is
//! stored in a label and compared before building.

use std::collections::HashMap;

use crate::archive::FileSet;
use crate::engine::{Engine, EngineError};
use crate::labels;

/// Why an image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("failed to read the build context {path}")]
    Context {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create the base image {image}: {message}")]
    Base { image: String, message: String },
}

/// Whether an image was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    Reused,
    Built,
}

/// An image ready to start containers from.
#[derive(Debug, Clone)]
pub struct ReadyImage {
    pub tag: String,
    pub id: String,
    pub content_hash: String,
    pub provenance: Provenance,
}

/// Builds `context` as `repo:<hash prefix>` unless an image with that tag and
/// content hash exists. `salt` (e.g. the base image id) enters the hash so a
/// new base means a rebuild.
pub async fn ensure_image(
    engine: &Engine,
    repo: &str,
    context: &FileSet,
    dockerfile: &str,
    salt: &str,
    extra_labels: HashMap<String, String>,
    on_line: impl FnMut(&str),
) -> Result<ReadyImage, ImageError> {
    let hash = {
        let mut with_salt = context.clone();
        with_salt.add(".racebench-salt", salt.as_bytes().to_vec(), 0o644);
        with_salt.add(
            ".racebench-dockerfile",
            dockerfile.as_bytes().to_vec(),
            0o644,
        );
        with_salt.content_hash()
    };
    let tag = format!("{repo}:{}", &hash[..16]);
    if let Some(found) = engine.image(&tag).await? {
        if found.labels.get(labels::CONTENT_HASH) == Some(&hash) {
            return Ok(ReadyImage {
                tag,
                id: found.id,
                content_hash: hash,
                provenance: Provenance::Reused,
            });
        }
    }
    let mut image_labels = extra_labels;
    image_labels.insert(labels::OWNER.into(), "1".into());
    image_labels.insert(labels::CONTENT_HASH.into(), hash.clone());
    let tar = context.to_tar().map_err(|source| ImageError::Context {
        path: repo.to_string(),
        source,
    })?;
    let id = engine
        .build_image(tar, &tag, dockerfile, image_labels, on_line)
        .await?;
    Ok(ReadyImage {
        tag,
        id,
        content_hash: hash,
        provenance: Provenance::Built,
    })
}
