//! Writing and reading a run folder: `run.json`, one JSON file per trial,
//! stored patches. Files are written to a temporary name and renamed, so a
//! run killed halfway leaves whole files or none.

use std::path::{Path, PathBuf};

use racebench_model::{RunLayout, RunManifest, TrialRecord, Verdict};

/// A results folder could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} {}", path.display())]
pub struct ResultsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn err(
    action: &'static str,
    path: &Path,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> ResultsError {
    ResultsError {
        action,
        path: path.to_path_buf(),
        source: source.into(),
    }
}

/// Writes `data` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ResultsError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err("create", parent, e))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| err("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err("write", path, e))
}

pub fn write_manifest(layout: &RunLayout, manifest: &RunManifest) -> Result<(), ResultsError> {
    let json =
        serde_json::to_vec_pretty(manifest).map_err(|e| err("serialize", &layout.manifest(), e))?;
    write_atomic(&layout.manifest(), &json)
}

pub fn read_manifest(layout: &RunLayout) -> Result<RunManifest, ResultsError> {
    let path = layout.manifest();
    let text = std::fs::read_to_string(&path).map_err(|e| err("read", &path, e))?;
    serde_json::from_str(&text).map_err(|e| err("parse", &path, e))
}

pub fn write_trial(layout: &RunLayout, record: &TrialRecord) -> Result<(), ResultsError> {
    let path = layout.path(&RunLayout::trial_rel(
        &record.datapoint,
        &record.candidate,
        record.trial,
    ));
    let json = serde_json::to_vec_pretty(record).map_err(|e| err("serialize", &path, e))?;
    write_atomic(&path, &json)
}

/// Whether a trial already has a final record (anything but `cancelled` or
/// an infrastructure error), so a resumed run skips it. A corrupt file
/// counts as not done.
pub fn trial_done(layout: &RunLayout, datapoint: &str, candidate: &str, trial: u32) -> bool {
    let path = layout.path(&RunLayout::trial_rel(datapoint, candidate, trial));
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<TrialRecord>(&text).ok())
        .is_some_and(|r| !matches!(r.verdict, Verdict::Cancelled | Verdict::InfraError))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b.json");
        write_atomic(&path, b"{}").unwrap();
        write_atomic(&path, b"[]").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"[]");
        assert_eq!(std::fs::read_dir(tmp.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_or_cancelled_trials_are_not_done() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(tmp.path());
        let path = layout.path(&RunLayout::trial_rel("dp", "c", 1));
        write_atomic(&path, b"{ not json").unwrap();
        assert!(!trial_done(&layout, "dp", "c", 1));
        assert!(!trial_done(&layout, "dp", "c", 2));
    }
}
