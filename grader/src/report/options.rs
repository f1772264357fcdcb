//! What the caller chooses about a report, and what it got back.

use std::path::PathBuf;

/// Where and how to write a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The folder to write the site into (created if needed).
    pub out: PathBuf,
    /// A folder whose templates replace the embedded ones, file by file.
    pub templates_dir: Option<PathBuf>,
    /// How much of the end of each log a trial or agent page shows.
    pub max_log_bytes: usize,
    /// How much of a patch a datapoint page (and of a diff an agent page) shows.
    pub max_patch_bytes: usize,
    /// How much of the end of a sandbox's events file an agent page draws.
    pub max_events_bytes: usize,
}

impl ReportOptions {
    pub fn new(out: impl Into<PathBuf>) -> ReportOptions {
        ReportOptions {
            out: out.into(),
            templates_dir: None,
            max_log_bytes: 64 * 1024,
            max_patch_bytes: 256 * 1024,
            max_events_bytes: 1024 * 1024,
        }
    }
}

/// The files a report wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFiles {
    /// `index.html`: open this.
    pub index: PathBuf,
    /// Every file written, the index included.
    pub written: Vec<PathBuf>,
    /// Inputs that could not be shown (a missing log or events file), as
    /// lowercase sentences; the report was written without them.
    pub warnings: Vec<String>,
}
