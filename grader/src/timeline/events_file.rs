//! Reading one trial's events file, found through its trial record, so the
//! CLI and the report draw the same timeline.

use std::path::PathBuf;

use racebench_model::event::parse_events;
use racebench_model::Event;

use super::build::Timeline;
use crate::load::LoadedRun;

/// A trial's events as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialEvents {
    pub path: PathBuf,
    /// In time order.
    pub events: Vec<Event>,
    /// Lines that were not events: 1-based line number and why.
    pub skipped: Vec<(usize, String)>,
}

impl TrialEvents {
    pub fn timeline(&self) -> Timeline {
        Timeline::from_events(&self.events)
    }
}

/// Why a trial's events could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("failed to find trial {trial} of candidate `{candidate}` on datapoint `{datapoint}` in the run")]
    NoTrial {
        datapoint: String,
        candidate: String,
        trial: u32,
    },
    #[error("failed to read events file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads the events file of one trial; `None` when the trial recorded none.
pub fn load_trial_events(
    run: &LoadedRun,
    datapoint: &str,
    candidate: &str,
    trial: u32,
) -> Result<Option<TrialEvents>, TimelineError> {
    let record = run
        .trial(datapoint, candidate, trial)
        .ok_or_else(|| TimelineError::NoTrial {
            datapoint: datapoint.to_string(),
            candidate: candidate.to_string(),
            trial,
        })?;
    let Some(rel) = &record.events else {
        return Ok(None);
    };
    let path = run.layout.path(rel);
    let text = std::fs::read_to_string(&path).map_err(|source| TimelineError::Read {
        path: path.clone(),
        source,
    })?;
    let (events, skipped) = parse_events(&text);
    Ok(Some(TrialEvents {
        path,
        events,
        skipped,
    }))
}
