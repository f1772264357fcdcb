//! The records a run writes: `run.json` (the manifest) and one JSON file per
//! trial. Both carry `format`; see `docs/results-format.md`. A change to these
//! types is a change to a published format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::candidate::Candidate;

/// Version of the results format (run.json and trial files).
pub const RESULTS_FORMAT: u32 = 1;

/// How far a trial got, and so who is to blame when it did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The tests ran; see the per-test outcomes.
    Tested,
    /// The patch applied with none of `git apply`, `git apply --3way`, `patch --fuzz`.
    PatchFailed,
    /// The datapoint's build step failed after the patch.
    BuildFailed,
    /// The test step ran past its wall-clock limit (counts against the candidate).
    TimedOut,
    /// Racebench or its services failed; never counted against the candidate.
    InfraError,
    /// The run was interrupted before the trial finished; rerun on resume.
    Cancelled,
}

impl Verdict {
    /// Whether the trial says something about the candidate (as opposed to racebench).
    pub fn counts(self) -> bool {
        !matches!(self, Verdict::InfraError | Verdict::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Tested => "tested",
            Verdict::PatchFailed => "patch_failed",
            Verdict::BuildFailed => "build_failed",
            Verdict::TimedOut => "timed_out",
            Verdict::InfraError => "infra_error",
            Verdict::Cancelled => "cancelled",
        }
    }
}

/// The outcome of one test in one trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// The test crashed or its setup failed.
    Error,
    Skipped,
    /// Weighted but absent from the report (the run died, or a test was renamed).
    Missing,
}

impl Outcome {
    pub fn is_pass(self) -> bool {
        self == Outcome::Passed
    }
}

/// One test's result in one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The test's name as weights files refer to it (e.g. `test_lost_updates`).
    pub name: String,
    /// Suite, class or package, as the report gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classname: Option<String>,
    /// The weight category, filled in from the weights file when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Failure message or reason for skipping, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a patch went on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyMethod {
    /// Nothing to apply (unpatched candidate or empty patch).
    None,
    GitApply,
    #[serde(rename = "git-apply-3way")]
    GitApply3way,
    PatchFuzz,
}

/// What racebench learned about the patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ApplyMethod>,
    /// Files the patch changes, as its headers name them.
    #[serde(default)]
    pub files: Vec<String>,
    /// Files among them under the datapoint's protected paths (flagged, not blocked).
    #[serde(default)]
    pub protected: Vec<String>,
    pub added_lines: u64,
    pub removed_lines: u64,
}

/// Wall-clock time spent in each phase of a trial, in milliseconds.
/// Records of results format 1 had `provision_ms` and `container_ms`
/// instead of `pod_ms` and `ready_ms`; they are read as pod start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// The pod's network and containers (main and services) created and started.
    #[serde(default, alias = "provision_ms")]
    pub pod_ms: u64,
    /// Until every service of the pod answered its probe (and external
    /// services' per-trial resources were made).
    #[serde(default)]
    pub ready_ms: u64,
    /// How long the trial waited for its pod: `pod_ms + ready_ms` when the
    /// pod was started for it, less (down to 0) when the run prepared the pod
    /// ahead, while earlier trials ran.
    #[serde(default)]
    pub pod_waited_ms: u64,
    pub patch_ms: u64,
    pub build_ms: u64,
    pub test_ms: u64,
    /// Copying the test outputs out.
    pub collect_ms: u64,
    /// Removing the pod (and releasing external services' resources).
    #[serde(default)]
    pub remove_ms: u64,
    pub total_ms: u64,
}

impl Timings {
    /// Time spent by racebench itself, excluding the datapoint's build and tests.
    pub fn overhead_ms(&self) -> u64 {
        self.total_ms.saturating_sub(self.build_ms + self.test_ms)
    }
}

/// One trial of one candidate on one datapoint: `trials/<dp>/<candidate>/<n>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub format: u32,
    pub run_id: String,
    pub datapoint: String,
    pub candidate: String,
    /// 1-based.
    pub trial: u32,
    pub verdict: Verdict,
    pub patch: PatchReport,
    /// Exit code of the test step, when it ran to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub tests: Vec<TestRecord>,
    /// Disagreements found when cross-checking the report with the exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inconsistencies: Vec<String>,
    pub timings: Timings,
    /// Log name to path relative to the run folder (apply, build, test, report).
    #[serde(default)]
    pub logs: BTreeMap<String, String>,
    /// The trial's timeline events file, relative to the run folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// What went wrong, for verdicts other than `tested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The infrastructure errors of earlier attempts of this trial, which
    /// were retried (`run --retries`); this record is the last attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
}

impl PatchReport {
    /// The report of a candidate with no patch at all.
    pub fn none() -> PatchReport {
        PatchReport {
            method: Some(ApplyMethod::None),
            files: Vec::new(),
            protected: Vec::new(),
            added_lines: 0,
            removed_lines: 0,
        }
    }
}

impl TrialRecord {
    /// A record for a trial that is starting: verdict `infra_error` until
    /// the trial says otherwise, so a record that is never finished blames
    /// racebench, not the candidate.
    pub fn begin(
        run_id: &str,
        datapoint: &str,
        candidate: &str,
        trial: u32,
        patch: PatchReport,
        started_at: String,
    ) -> TrialRecord {
        TrialRecord {
            format: RESULTS_FORMAT,
            run_id: run_id.to_string(),
            datapoint: datapoint.to_string(),
            candidate: candidate.to_string(),
            trial,
            verdict: Verdict::InfraError,
            patch,
            exit_code: None,
            tests: Vec::new(),
            inconsistencies: Vec::new(),
            timings: Timings::default(),
            logs: BTreeMap::new(),
            events: None,
            error: None,
            earlier_attempts: Vec::new(),
            finished_at: started_at.clone(),
            started_at,
        }
    }

    pub fn test(&self, name: &str) -> Option<&TestRecord> {
        self.tests.iter().find(|t| t.name == name)
    }
}

/// The state of a run as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    /// Interrupted (Ctrl-C); `racebench run --resume` finishes it.
    Cancelled,
    Failed,
}

/// `run.json`: what was asked for, so a run can be graded, reported and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub format: u32,
    pub run_id: String,
    pub racebench_version: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub status: RunStatus,
    /// Trials per candidate.
    pub trials: u32,
    pub candidates: Vec<Candidate>,
    /// Datapoint id to the content hash of its folder when the run started.
    #[serde(default)]
    pub datapoints: BTreeMap<String, String>,
}
