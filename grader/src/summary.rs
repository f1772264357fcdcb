//! The graded summary of a run: what `racebench grade` prints and writes as
//! JSON. Its serialized form is a versioned, documented format
//! (`docs/summary-format.md`); change it deliberately and bump `format`.

use racebench_model::{CandidateKind, RunStatus, Verdict};
use serde::{Deserialize, Serialize};

use crate::pass_at_k::PassAtK;
use crate::wilson::Interval;

/// Version of the summary JSON format.
pub const SUMMARY_FORMAT: u32 = 1;

/// Scores of every candidate of every datapoint of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub format: u32,
    pub run_id: String,
    /// Version of racebench that ran the trials.
    pub racebench_version: String,
    /// Version of the grader that wrote this summary.
    pub grader_version: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    /// Trials per candidate asked for.
    pub trials_per_candidate: u32,
    pub datapoints: Vec<DatapointSummary>,
    /// pass@k and pass^k per agent, for candidates that carry an `agent`.
    pub agents: Vec<AgentSummary>,
    /// One row per candidate id, best first.
    pub leaderboard: Vec<LeaderboardRow>,
}

/// One datapoint: its weights and every candidate tried on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatapointSummary {
    pub id: String,
    pub categories: Vec<CategoryInfo>,
    pub candidates: Vec<CandidateSummary>,
}

/// A weight category as the weights file declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryInfo {
    pub name: String,
    pub weight: f64,
    pub description: String,
    pub tests: Vec<String>,
}

/// The grade of one candidate on one datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
    pub id: String,
    pub kind: CandidateKind,
    pub agent: Option<String>,
    pub sample: Option<u32>,
    /// The stored patch, relative to the run folder.
    pub patch: Option<String>,
    /// For decoys: the categories they must fail.
    pub must_fail: Vec<String>,
    pub trials: TrialCounts,
    /// Every trial that ran (infrastructure errors included), by number.
    pub trial_results: Vec<TrialSummary>,
    /// Every weighted test, in weights-file order.
    pub tests: Vec<TestSummary>,
    pub categories: Vec<CategorySummary>,
    /// `None` when no trial counted (all infrastructure errors, or none ran).
    pub score: Option<Score>,
    /// Tests the reports name but the weights do not: shown, never scored.
    pub unweighted: Vec<UnweightedTest>,
}

/// How many trials there were and which of them count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialCounts {
    /// Trials per candidate asked for in `run.json`.
    pub planned: u32,
    /// Trials that say something about the candidate: every verdict but
    /// `infra_error` and `cancelled`.
    pub counted: u32,
    pub infra_error: u32,
    pub cancelled: u32,
    /// Trials without a record in a run that did not complete.
    pub not_run: u32,
    pub verdicts: VerdictCounts,
}

/// Trials per verdict (cancelled trials are in `TrialCounts::cancelled`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub tested: u32,
    pub patch_failed: u32,
    pub build_failed: u32,
    pub timed_out: u32,
    pub infra_error: u32,
}

/// One trial, reduced to what the grade needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSummary {
    /// 1-based.
    pub trial: u32,
    pub verdict: Verdict,
    /// Whether the trial counts (it is not an infrastructure error).
    pub counts: bool,
    /// Weighted tests passed in this trial.
    pub passed: u32,
    /// Weighted tests in all.
    pub tests: u32,
    /// The weighted score of this trial alone; `None` when it does not count.
    pub score: Option<f64>,
    /// The trial's error, for verdicts other than `tested`.
    pub error: Option<String>,
    /// Whether the trial recorded timeline events.
    pub has_events: bool,
    /// Why the grader did not take the report at its word (its exit code
    /// contradicted it, a protected path was changed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What one weighted test did in one counting trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
    Error,
    Skipped,
    /// Weighted but absent from the trial's report.
    Missing,
    /// The trial stopped before the tests: the patch did not apply.
    PatchFailed,
    /// The trial stopped before the tests: the build failed.
    BuildFailed,
    /// The test step ran out of time; every test counts as failed.
    TimedOut,
    /// The patch changes a path the datapoint protects; every test counts
    /// as failed.
    Protected,
}

impl TestOutcome {
    pub fn is_pass(self) -> bool {
        self == TestOutcome::Passed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TestOutcome::Passed => "passed",
            TestOutcome::Failed => "failed",
            TestOutcome::Error => "error",
            TestOutcome::Skipped => "skipped",
            TestOutcome::Missing => "missing",
            TestOutcome::PatchFailed => "patch_failed",
            TestOutcome::BuildFailed => "build_failed",
            TestOutcome::TimedOut => "timed_out",
            TestOutcome::Protected => "protected",
        }
    }
}

/// A test's outcome in one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialOutcome {
    pub trial: u32,
    pub outcome: TestOutcome,
    /// The failure message the report gave, if any.
    pub message: Option<String>,
}

/// One weighted test over the counting trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    pub name: String,
    pub category: String,
    /// Its share of the datapoint's score: category weight / tests in the category.
    pub weight: f64,
    pub passes: u32,
    /// Counting trials.
    pub trials: u32,
    /// passes / trials; `None` without counting trials.
    pub pass_rate: Option<f64>,
    /// Wilson 95% interval of the pass rate.
    pub interval: Interval,
    /// Passed in every counting trial (and there was at least one).
    pub fixed: bool,
    /// One entry per counting trial.
    pub outcomes: Vec<TrialOutcome>,
}

/// A category's share of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategorySummary {
    pub name: String,
    pub weight: f64,
    pub tests: u32,
    /// Tests of the category fixed.
    pub fixed: u32,
    /// Sum of the weights of its fixed tests (at most `weight`).
    pub strict: Option<f64>,
    /// Sum of weight × pass rate of its tests (at most `weight`).
    pub lenient: Option<f64>,
}

/// The weighted score of a candidate on a datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Sum of the weights of the fixed tests: the headline number.
    pub strict: f64,
    /// Sum of weight × pass rate: the mean per-trial weighted score.
    pub lenient: f64,
    /// Wilson 95% interval of the lenient score (per-trial weighted scores as
    /// fractional successes).
    pub interval: Interval,
    /// Strict score 1.0: every weighted test passed every counting trial.
    pub solved: bool,
    /// Counting trials in which every weighted test passed.
    pub clean_trials: u32,
}

/// A test the reports name but the weights file does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnweightedTest {
    pub name: String,
    /// Counting trials whose report had it.
    pub seen: u32,
    pub passes: u32,
}

/// One agent's samples, per datapoint and overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent: String,
    pub datapoints: Vec<AgentDatapoint>,
    /// pass@k and pass^k averaged over the datapoints with at least k samples.
    pub overall: Vec<AgentOverall>,
}

/// One agent on one datapoint: its samples are its candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDatapoint {
    pub datapoint: String,
    /// Candidate ids of the samples, by sample number.
    pub candidates: Vec<String>,
    /// Samples with at least one counting trial (n).
    pub samples: u32,
    /// Samples with no counting trial: left out of n.
    pub inconclusive: u32,
    /// Samples with strict score 1.0 (c).
    pub solved: u32,
    pub mean_strict: Option<f64>,
    pub mean_lenient: Option<f64>,
    /// For k = 1..n.
    pub pass_at_k: Vec<PassAtK>,
}

/// pass@k and pass^k for one k, averaged over datapoints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgentOverall {
    pub k: u32,
    /// Datapoints with at least k samples, which the means are over.
    pub datapoints: u32,
    pub pass_at_k: f64,
    pub pass_hat_k: f64,
}

/// A candidate id across datapoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// 1-based position.
    pub rank: u32,
    pub candidate: String,
    pub kind: CandidateKind,
    pub agent: Option<String>,
    /// Datapoints where it was graded (had counting trials).
    pub graded: u32,
    /// Datapoints solved (strict 1.0).
    pub solved: u32,
    /// Means over the datapoints it was tried on where every candidate
    /// tried there was graded (so breaking the infrastructure on a hard
    /// datapoint cannot raise a rank).
    pub mean_strict: Option<f64>,
    pub mean_lenient: Option<f64>,
    /// One cell per datapoint the candidate was tried on.
    pub cells: Vec<LeaderboardCell>,
    /// Datapoints it was tried on but not graded on (only infrastructure
    /// errors or cancelled trials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Datapoints left out of its means because some candidate tried there
    /// was not graded there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
}

/// A candidate's score on one datapoint, as the leaderboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardCell {
    pub datapoint: String,
    pub score: Option<Score>,
    pub counted: u32,
    pub infra_error: u32,
}

impl Summary {
    pub fn datapoint(&self, id: &str) -> Option<&DatapointSummary> {
        self.datapoints.iter().find(|d| d.id == id)
    }

    /// Serializes the summary as pretty JSON (the documented format).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes")
    }
}

impl DatapointSummary {
    pub fn candidate(&self, id: &str) -> Option<&CandidateSummary> {
        self.candidates.iter().find(|c| c.id == id)
    }

    /// The first candidate of a kind (the reference, the unpatched service).
    pub fn first_of(&self, kind: CandidateKind) -> Option<&CandidateSummary> {
        self.candidates.iter().find(|c| c.kind == kind)
    }
}

impl CandidateSummary {
    pub fn test(&self, name: &str) -> Option<&TestSummary> {
        self.tests.iter().find(|t| t.name == name)
    }

    /// Trials that count, in order.
    pub fn counting_trials(&self) -> impl Iterator<Item = &TrialSummary> {
        self.trial_results.iter().filter(|t| t.counts)
    }
}

impl TrialSummary {
    /// Counts and passed every weighted test.
    pub fn clean(&self) -> bool {
        self.counts && self.passed == self.tests && self.verdict == Verdict::Tested
    }
}
