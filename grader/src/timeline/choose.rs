//! Choosing which trial's timeline to show when the caller leaves the
//! datapoint, candidate or trial open: a failing trial with events first
//! (that is where a race shows), else the first trial with events.

use racebench_model::{TrialRecord, Verdict};

use crate::load::LoadedRun;

/// One trial of one candidate on one datapoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialRef {
    pub datapoint: String,
    pub candidate: String,
    pub trial: u32,
}

/// Whether a trial counts and did not pass every test it reported (weights aside).
fn failing(r: &TrialRecord) -> bool {
    r.verdict.counts()
        && !(r.verdict == Verdict::Tested && r.tests.iter().all(|t| t.outcome.is_pass()))
}

/// Among the trials that recorded events and match what is given, the first
/// failing one in run order, else the first one; `None` when none matches.
pub fn choose_trial(
    run: &LoadedRun,
    datapoint: Option<&str>,
    candidate: Option<&str>,
    trial: Option<u32>,
) -> Option<TrialRef> {
    let candidates: Vec<&TrialRecord> = run
        .manifest
        .candidates
        .iter()
        .filter(|c| datapoint.is_none_or(|d| d == c.datapoint))
        .filter(|c| candidate.is_none_or(|id| id == c.id))
        .flat_map(|c| run.trials(&c.datapoint, &c.id).ran.iter())
        .filter(|r| r.events.is_some() && trial.is_none_or(|n| n == r.trial))
        .collect();
    let pick = candidates
        .iter()
        .find(|r| failing(r))
        .or_else(|| candidates.first())?;
    Some(TrialRef {
        datapoint: pick.datapoint.clone(),
        candidate: pick.candidate.clone(),
        trial: pick.trial,
    })
}
