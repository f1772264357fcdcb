//! Where things live inside a run folder. Both the runner (writing) and the
//! grader (reading) go through here, so the layout is defined once.

use std::path::{Path, PathBuf};

/// Paths inside one run folder.
#[derive(Debug, Clone)]
pub struct RunLayout {
    root: PathBuf,
}

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>) -> RunLayout {
        RunLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("run.json")
    }

    /// Relative path of a candidate's stored patch.
    pub fn patch_rel(datapoint: &str, candidate: &str) -> String {
        format!("patches/{datapoint}/{candidate}.diff")
    }

    /// Relative path of a trial record.
    pub fn trial_rel(datapoint: &str, candidate: &str, trial: u32) -> String {
        format!("trials/{datapoint}/{candidate}/{trial:03}.json")
    }

    /// Relative folder of a trial's logs and collected files.
    pub fn logs_rel(datapoint: &str, candidate: &str, trial: u32) -> String {
        format!("logs/{datapoint}/{candidate}/{trial:03}")
    }

    pub fn trials_dir(&self) -> PathBuf {
        self.root.join("trials")
    }

    /// Resolves a path relative to the run folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}
