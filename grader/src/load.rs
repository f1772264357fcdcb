//! Reading a results folder: `run.json` and every trial record it implies,
//! checked against the layout so that grading never guesses. Cancelled trials
//! are kept apart as "not run"; nothing here interprets scores.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use racebench_model::{
    Candidate, RunLayout, RunManifest, RunStatus, TrialRecord, Verdict, RESULTS_FORMAT,
};

/// A results folder read into memory.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub layout: RunLayout,
    pub manifest: RunManifest,
    trials: BTreeMap<(String, String), CandidateTrials>,
}

/// The trials of one candidate on one datapoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateTrials {
    /// Trials that ran (any verdict but `cancelled`), by trial number.
    pub ran: Vec<TrialRecord>,
    /// Trial numbers recorded as `cancelled`: treated as not run.
    pub cancelled: Vec<u32>,
    /// Trial numbers without a file in a run that did not complete.
    pub not_run: Vec<u32>,
}

/// Why a results folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("failed to read run manifest {}", path.display())]
    ReadManifest {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse run manifest {}", path.display())]
    ParseManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to read {}: format {found} is not supported (this grader reads format {RESULTS_FORMAT})", path.display())]
    Format { path: PathBuf, found: u32 },
    #[error("failed to accept run manifest {}: {problem}", path.display())]
    Manifest { path: PathBuf, problem: String },
    #[error("failed to find trial file {} (run.json asks for {trials} trials per candidate and the run is marked completed)", path.display())]
    MissingTrial { path: PathBuf, trials: u32 },
    #[error("failed to read trial file {}", path.display())]
    ReadTrial {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse trial file {}", path.display())]
    ParseTrial {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to accept trial file {}: {problem}", path.display())]
    Trial { path: PathBuf, problem: String },
}

/// Reads `run.json` in `dir` and the trial record of every candidate and trial
/// number it lists. A missing file is an error in a completed run and "not
/// run" otherwise; a corrupt one is always an error naming the file.
pub fn load_run(dir: &Path) -> Result<LoadedRun, LoadError> {
    let layout = RunLayout::new(dir);
    let path = layout.manifest();
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::ReadManifest {
        path: path.clone(),
        source,
    })?;
    let manifest: RunManifest =
        serde_json::from_str(&text).map_err(|source| LoadError::ParseManifest {
            path: path.clone(),
            source,
        })?;
    if manifest.format != RESULTS_FORMAT {
        return Err(LoadError::Format {
            path,
            found: manifest.format,
        });
    }
    check_candidates(&manifest).map_err(|problem| LoadError::Manifest {
        path: path.clone(),
        problem,
    })?;

    let mut records = Vec::new();
    let mut missing = Vec::new();
    for candidate in &manifest.candidates {
        for trial in 1..=manifest.trials {
            let rel = RunLayout::trial_rel(&candidate.datapoint, &candidate.id, trial);
            let path = layout.path(&rel);
            match std::fs::read_to_string(&path) {
                Ok(text) => records.push(parse_trial(&text, &path, candidate, trial)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if manifest.status == RunStatus::Completed {
                        return Err(LoadError::MissingTrial {
                            path,
                            trials: manifest.trials,
                        });
                    }
                    missing.push((candidate.clone(), trial));
                }
                Err(source) => return Err(LoadError::ReadTrial { path, source }),
            }
        }
    }
    let mut run = LoadedRun::from_records(dir, manifest, records);
    for (candidate, trial) in missing {
        run.entry(&candidate).not_run.push(trial);
    }
    Ok(run)
}

fn parse_trial(
    text: &str,
    path: &Path,
    candidate: &Candidate,
    trial: u32,
) -> Result<TrialRecord, LoadError> {
    let record: TrialRecord =
        serde_json::from_str(text).map_err(|source| LoadError::ParseTrial {
            path: path.to_path_buf(),
            source,
        })?;
    if record.format != RESULTS_FORMAT {
        return Err(LoadError::Format {
            path: path.to_path_buf(),
            found: record.format,
        });
    }
    let problem = if record.datapoint != candidate.datapoint
        || record.candidate != candidate.id
        || record.trial != trial
    {
        Some(format!(
            "it records datapoint `{}`, candidate `{}`, trial {} but its path says `{}`, `{}`, {}",
            record.datapoint,
            record.candidate,
            record.trial,
            candidate.datapoint,
            candidate.id,
            trial
        ))
    } else {
        record
            .logs
            .values()
            .chain(record.events.iter())
            .find(|rel| !is_inside(rel))
            .map(|rel| {
                format!("it names `{rel}`, which is not a relative path inside the run folder")
            })
    };
    match problem {
        Some(problem) => Err(LoadError::Trial {
            path: path.to_path_buf(),
            problem,
        }),
        None => Ok(record),
    }
}

/// Candidate and datapoint ids become path components; refuse anything that
/// could climb out of the run folder, and duplicates.
fn check_candidates(manifest: &RunManifest) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for candidate in &manifest.candidates {
        for (what, id) in [
            ("datapoint", &candidate.datapoint),
            ("candidate", &candidate.id),
        ] {
            if !is_path_safe(id) {
                return Err(format!(
                    "{what} id `{id}` is not a safe path component (use letters, digits, `.`, `_` and `-`)"
                ));
            }
        }
        if let Some(patch) = &candidate.patch {
            if !is_inside(patch) {
                return Err(format!(
                    "candidate `{}` names patch `{patch}`, which is not a relative path inside the run folder",
                    candidate.id
                ));
            }
        }
        if !seen.insert((&candidate.datapoint, &candidate.id)) {
            return Err(format!(
                "candidate `{}` appears twice for datapoint `{}`",
                candidate.id, candidate.datapoint
            ));
        }
    }
    Ok(())
}

fn is_path_safe(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether `rel` is a relative path that stays inside the folder it is relative to.
pub(crate) fn is_inside(rel: &str) -> bool {
    let path = Path::new(rel);
    !rel.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl LoadedRun {
    /// Builds a run from records already in memory (tests, or a runner that
    /// grades what it just ran). Cancelled records are set apart.
    pub fn from_records(
        dir: impl Into<PathBuf>,
        manifest: RunManifest,
        records: impl IntoIterator<Item = TrialRecord>,
    ) -> LoadedRun {
        let mut run = LoadedRun {
            layout: RunLayout::new(dir),
            manifest,
            trials: BTreeMap::new(),
        };
        for candidate in run.manifest.candidates.clone() {
            run.entry(&candidate);
        }
        for record in records {
            let entry = run
                .trials
                .entry((record.datapoint.clone(), record.candidate.clone()))
                .or_default();
            if record.verdict == Verdict::Cancelled {
                entry.cancelled.push(record.trial);
            } else {
                entry.ran.push(record);
            }
        }
        for entry in run.trials.values_mut() {
            entry.ran.sort_by_key(|r| r.trial);
            entry.cancelled.sort_unstable();
        }
        run
    }

    fn entry(&mut self, candidate: &Candidate) -> &mut CandidateTrials {
        self.trials
            .entry((candidate.datapoint.clone(), candidate.id.clone()))
            .or_default()
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// Every datapoint with at least one candidate, sorted.
    pub fn datapoints(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .manifest
            .candidates
            .iter()
            .map(|c| c.datapoint.as_str())
            .collect();
        set.into_iter().collect()
    }

    /// The candidates of one datapoint, in the order of `run.json`.
    pub fn candidates<'a>(
        &'a self,
        datapoint: &'a str,
    ) -> impl Iterator<Item = &'a Candidate> + 'a {
        self.manifest
            .candidates
            .iter()
            .filter(move |c| c.datapoint == datapoint)
    }

    pub fn candidate(&self, datapoint: &str, id: &str) -> Option<&Candidate> {
        self.manifest
            .candidates
            .iter()
            .find(|c| c.datapoint == datapoint && c.id == id)
    }

    /// The trials of one candidate; empty when it has none.
    pub fn trials(&self, datapoint: &str, candidate: &str) -> &CandidateTrials {
        static NONE: CandidateTrials = CandidateTrials {
            ran: Vec::new(),
            cancelled: Vec::new(),
            not_run: Vec::new(),
        };
        self.trials
            .get(&(datapoint.to_string(), candidate.to_string()))
            .unwrap_or(&NONE)
    }

    /// One trial that ran, by its 1-based number.
    pub fn trial(&self, datapoint: &str, candidate: &str, trial: u32) -> Option<&TrialRecord> {
        self.trials(datapoint, candidate)
            .ran
            .iter()
            .find(|r| r.trial == trial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use racebench_model::{CandidateKind, PatchReport, Timings};

    fn manifest(status: RunStatus, trials: u32) -> RunManifest {
        RunManifest {
            format: RESULTS_FORMAT,
            run_id: "run-1".into(),
            racebench_version: "0.1.0".into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            finished_at: None,
            status,
            trials,
            candidates: vec![Candidate {
                id: "reference".into(),
                kind: CandidateKind::Reference,
                datapoint: "demo".into(),
                agent: None,
                sample: None,
                patch: None,
                must_fail: vec![],
            }],
            datapoints: BTreeMap::new(),
        }
    }

    fn record(trial: u32, verdict: Verdict) -> TrialRecord {
        TrialRecord {
            format: RESULTS_FORMAT,
            run_id: "run-1".into(),
            datapoint: "demo".into(),
            candidate: "reference".into(),
            trial,
            verdict,
            patch: PatchReport {
                method: None,
                files: vec![],
                protected: vec![],
                added_lines: 0,
                removed_lines: 0,
            },
            exit_code: None,
            tests: vec![],
            inconsistencies: vec![],
            timings: Timings::default(),
            logs: BTreeMap::new(),
            events: None,
            error: None,
            earlier_attempts: vec![],
            started_at: String::new(),
            finished_at: String::new(),
        }
    }

    fn write_run(dir: &Path, manifest: &RunManifest, records: &[TrialRecord]) {
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string(manifest).unwrap(),
        )
        .unwrap();
        for r in records {
            let path = dir.join(RunLayout::trial_rel(&r.datapoint, &r.candidate, r.trial));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, serde_json::to_string(r).unwrap()).unwrap();
        }
    }

    #[test]
    fn cancelled_trials_are_set_apart_as_not_run() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(
            tmp.path(),
            &manifest(RunStatus::Completed, 2),
            &[record(1, Verdict::Tested), record(2, Verdict::Cancelled)],
        );
        let run = load_run(tmp.path()).unwrap();
        let trials = run.trials("demo", "reference");
        assert_eq!(trials.ran.len(), 1);
        assert_eq!(trials.cancelled, [2]);
    }

    #[test]
    fn a_missing_trial_file_of_a_completed_run_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(
            tmp.path(),
            &manifest(RunStatus::Completed, 2),
            &[record(1, Verdict::Tested)],
        );
        let err = load_run(tmp.path()).unwrap_err();
        assert!(
            err.to_string().contains("trials/demo/reference/002.json"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_trial_file_of_an_interrupted_run_is_not_run() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(
            tmp.path(),
            &manifest(RunStatus::Cancelled, 2),
            &[record(1, Verdict::Tested)],
        );
        let run = load_run(tmp.path()).unwrap();
        assert_eq!(run.trials("demo", "reference").not_run, [2]);
    }

    #[test]
    fn a_corrupt_trial_file_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(
            tmp.path(),
            &manifest(RunStatus::Completed, 1),
            &[record(1, Verdict::Tested)],
        );
        let path = tmp.path().join("trials/demo/reference/001.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = load_run(tmp.path()).unwrap_err();
        assert!(matches!(err, LoadError::ParseTrial { .. }));
        assert!(err.to_string().contains("001.json"), "{err}");
    }

    #[test]
    fn a_trial_file_in_the_wrong_place_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        write_run(
            tmp.path(),
            &manifest(RunStatus::Completed, 1),
            &[record(1, Verdict::Tested)],
        );
        let mut moved = record(1, Verdict::Tested);
        moved.trial = 7;
        std::fs::write(
            tmp.path().join("trials/demo/reference/001.json"),
            serde_json::to_string(&moved).unwrap(),
        )
        .unwrap();
        let err = load_run(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("trial 7"), "{err}");
    }

    #[test]
    fn log_paths_outside_the_run_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = record(1, Verdict::Tested);
        r.logs.insert("test".into(), "../../etc/passwd".into());
        write_run(tmp.path(), &manifest(RunStatus::Completed, 1), &[r]);
        let err = load_run(tmp.path()).unwrap_err();
        assert!(matches!(err, LoadError::Trial { .. }), "{err}");
    }

    #[test]
    fn unsafe_candidate_ids_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut m = manifest(RunStatus::Completed, 0);
        m.candidates[0].id = "../x".into();
        write_run(tmp.path(), &m, &[]);
        assert!(matches!(
            load_run(tmp.path()),
            Err(LoadError::Manifest { .. })
        ));
    }

    #[test]
    fn inside_paths() {
        assert!(is_inside("logs/demo/reference/001/test.log"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("logs/../../x"));
        assert!(!is_inside(""));
    }
}
