//! Reading what a results folder keeps of one agent sample
//! (`agents/<datapoint>/<candidate>/`): its record, the tail of its logs,
//! the head of its diff, the sandbox's events and its usage. Everything in
//! there but the record is the agent's, so every file is read up to a cap.

use std::path::{Path, PathBuf};

use racebench_model::agent::agent_rel;
use racebench_model::event::parse_events;
use racebench_model::{AgentRecord, AgentUsage, Event, AGENT_RECORD_FORMAT};

use crate::excerpt::{read_head, read_tail, Excerpt};
use crate::load::{is_inside, LoadedRun};

/// The record's file in a sample's folder.
pub const RECORD_FILE: &str = "agent.json";
/// The usage file an agent may leave in its outputs folder, as kept.
pub const USAGE_FILE: &str = "out/usage.json";

/// Caps on what is read of a sample's files (each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleLimits {
    /// Of the end of each log.
    pub log_bytes: u64,
    /// Of the start of the diff.
    pub diff_bytes: u64,
    /// Of the end of the sandbox's events file.
    pub events_bytes: u64,
}

impl Default for SampleLimits {
    fn default() -> SampleLimits {
        SampleLimits {
            log_bytes: 64 * 1024,
            diff_bytes: 256 * 1024,
            events_bytes: 1024 * 1024,
        }
    }
}

/// Cap on `agent.json` (racebench writes it; its lists come from the agent).
const RECORD_BYTES: u64 = 4 * 1024 * 1024;
/// Cap on `usage.json`.
const USAGE_BYTES: u64 = 64 * 1024;

/// One agent sample as its folder keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSample {
    /// The sample's folder, relative to the run folder.
    pub dir: String,
    pub record: AgentRecord,
    /// From the record, else from the kept `usage.json`.
    pub usage: Option<AgentUsage>,
    /// `agent.log`, `setup.log`: the end of each that exists.
    pub logs: Vec<SampleFile>,
    /// `fix.diff`: its start.
    pub diff: Option<SampleFile>,
    /// The sandbox's events, when the record names a kept events file.
    pub events: Option<SampleEvents>,
    /// What could not be read, as lowercase sentences (shown, and warned about).
    pub problems: Vec<String>,
}

/// A bounded part of one of the sample's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFile {
    /// The file's name in the sample's folder (`agent.log`).
    pub name: String,
    /// Relative to the run folder.
    pub rel: String,
    pub excerpt: Excerpt,
}

/// The sandbox's events, from the end of its events file.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEvents {
    /// Relative to the run folder.
    pub rel: String,
    /// In time order.
    pub events: Vec<Event>,
    /// Lines that were not events (counted in what was read).
    pub skipped: usize,
    pub shown_bytes: u64,
    pub total_bytes: u64,
}

/// Why a sample's record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AgentSampleError {
    #[error("failed to read agent record {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse agent record {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to accept agent record {}: {problem}", path.display())]
    Record { path: PathBuf, problem: String },
}

/// Reads the sample that became `candidate` on `datapoint`; `None` when the
/// run keeps no record of it (a candidate from a predictions file, or a run
/// made before agents were recorded). A record that cannot be read is an
/// error; any other file that cannot be read is one of its `problems`.
pub fn load_agent_sample(
    run: &LoadedRun,
    datapoint: &str,
    candidate: &str,
    limits: &SampleLimits,
) -> Result<Option<AgentSample>, AgentSampleError> {
    let dir = agent_rel(datapoint, candidate);
    let path = run.layout.path(&format!("{dir}/{RECORD_FILE}"));
    let record = match read_head(&path, RECORD_BYTES) {
        Ok(text) if text.is_cut() => {
            return Err(AgentSampleError::Record {
                path,
                problem: format!("it is larger than {} MiB", RECORD_BYTES / 1024 / 1024),
            })
        }
        Ok(text) => parse_record(&text.text, &path, datapoint, candidate)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AgentSampleError::Read { path, source }),
    };
    let mut sample = AgentSample {
        dir: dir.clone(),
        usage: record.usage.clone(),
        record,
        logs: Vec::new(),
        diff: None,
        events: None,
        problems: Vec::new(),
    };
    let root = run.dir();
    for name in ["agent.log", "setup.log"] {
        if let Some(file) = sample_file(root, &dir, name, &mut sample.problems, |p| {
            read_tail(p, limits.log_bytes)
        }) {
            sample.logs.push(file);
        }
    }
    sample.diff = sample_file(root, &dir, "fix.diff", &mut sample.problems, |p| {
        read_head(p, limits.diff_bytes)
    });
    if sample.usage.is_none() {
        sample.usage = read_usage(root, &dir, &mut sample.problems);
    }
    if let Some(events) = sample.record.events.clone() {
        let rel = format!("{dir}/{events}");
        match read_tail(&root.join(&rel), limits.events_bytes) {
            Ok(excerpt) => {
                let (events, skipped) = parse_events(&excerpt.text);
                sample.events = Some(SampleEvents {
                    rel,
                    events,
                    skipped: skipped.len(),
                    shown_bytes: excerpt.shown_bytes,
                    total_bytes: excerpt.total_bytes,
                });
            }
            Err(e) => sample
                .problems
                .push(format!("could not read the sandbox's events {rel}: {e}")),
        }
    }
    Ok(Some(sample))
}

fn parse_record(
    text: &str,
    path: &Path,
    datapoint: &str,
    candidate: &str,
) -> Result<AgentRecord, AgentSampleError> {
    let record: AgentRecord =
        serde_json::from_str(text).map_err(|source| AgentSampleError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    let problem = if record.format != AGENT_RECORD_FORMAT {
        Some(format!(
            "format {} is not supported (this grader reads format {AGENT_RECORD_FORMAT})",
            record.format
        ))
    } else if record.datapoint != datapoint || record.candidate != candidate {
        Some(format!(
            "it records datapoint `{}` and candidate `{}` but its path says `{datapoint}` and `{candidate}`",
            record.datapoint, record.candidate
        ))
    } else {
        record
            .events
            .iter()
            .chain(record.outputs.iter())
            .find(|rel| !is_inside(rel))
            .map(|rel| format!("it names `{rel}`, which is not a relative path inside its folder"))
    };
    match problem {
        Some(problem) => Err(AgentSampleError::Record {
            path: path.to_path_buf(),
            problem,
        }),
        None => Ok(record),
    }
}

/// Reads one file of the sample's folder with `read`; `None` when it does
/// not exist, and a problem when it cannot be read.
fn sample_file(
    root: &Path,
    dir: &str,
    name: &str,
    problems: &mut Vec<String>,
    read: impl Fn(&Path) -> std::io::Result<Excerpt>,
) -> Option<SampleFile> {
    let rel = format!("{dir}/{name}");
    match read(&root.join(&rel)) {
        Ok(excerpt) => Some(SampleFile {
            name: name.to_string(),
            rel,
            excerpt,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            problems.push(format!("could not read {rel}: {e}"));
            None
        }
    }
}

fn read_usage(root: &Path, dir: &str, problems: &mut Vec<String>) -> Option<AgentUsage> {
    let rel = format!("{dir}/{USAGE_FILE}");
    let text = match read_head(&root.join(&rel), USAGE_BYTES) {
        Ok(text) if !text.is_cut() => text.text,
        Ok(_) => {
            problems.push(format!(
                "{rel} is larger than {} KiB; its usage is not shown",
                USAGE_BYTES / 1024
            ));
            return None;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push(format!("could not read {rel}: {e}"));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(usage) => Some(usage),
        Err(e) => {
            problems.push(format!(
                "{rel} is not {{\"input_tokens\": N, \"output_tokens\": N, \"cost_usd\": X}}: {e}"
            ));
            None
        }
    }
}
