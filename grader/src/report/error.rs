//! Why a report could not be written.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("failed to read template {}", path.display())]
    ReadTemplate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to compile the report templates")]
    Templates(#[source] tera::Error),
    #[error("failed to render template `{template}` for {page}")]
    Render {
        template: String,
        page: String,
        #[source]
        source: tera::Error,
    },
    #[error("failed to create folder {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
