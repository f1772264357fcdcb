//! A failing trial's page: why it failed (verdict, error, the tests that did
//! not pass with their messages) and the end of each of its logs, read from
//! the run folder up to a cap and shown as escaped text.

use serde::Serialize;

use super::agent_page::SampleBrief;
use super::display::{outcome, outcome_words, verdict};
use super::log_view::LogView;
use super::page::{candidate_anchor, datapoint_href, timeline_href};
use crate::excerpt::read_tail;
use crate::load::LoadedRun;
use crate::summary::{CandidateSummary, TrialSummary};

#[derive(Debug, Serialize)]
pub(crate) struct TrialView {
    datapoint: String,
    candidate: String,
    kind: String,
    trial: u32,
    verdict: String,
    verdict_class: &'static str,
    verdict_words: String,
    counts: bool,
    error: Option<String>,
    back: String,
    timeline: Option<String>,
    /// The page of the agent sample whose diff this trial verified.
    sample: Option<String>,
    exit_code: Option<i64>,
    failing: Vec<FailingTest>,
    inconsistencies: Vec<String>,
    timings: Vec<(String, String)>,
    logs: Vec<LogView>,
}

#[derive(Debug, Serialize)]
struct FailingTest {
    name: String,
    category: String,
    class: &'static str,
    symbol: &'static str,
    words: &'static str,
    message: Option<String>,
}

/// The pages a trial's page links to besides its datapoint's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Related<'a> {
    /// Its candidate has a timeline page.
    pub has_timeline: bool,
    /// The agent sample whose diff it verified.
    pub sample: Option<&'a SampleBrief>,
}

pub(crate) fn build(
    run: &LoadedRun,
    datapoint: &str,
    c: &CandidateSummary,
    t: &TrialSummary,
    related: Related<'_>,
    max_log_bytes: usize,
    warnings: &mut Vec<String>,
) -> TrialView {
    let root = "../../../";
    let (verdict_class, _, verdict_words) = verdict(t);
    let record = run.trial(datapoint, &c.id, t.trial);
    let failing = c
        .tests
        .iter()
        .filter_map(|test| {
            let o = test.outcomes.iter().find(|o| o.trial == t.trial)?;
            if o.outcome.is_pass() {
                return None;
            }
            let (class, symbol) = outcome(o.outcome);
            Some(FailingTest {
                name: test.name.clone(),
                category: test.category.clone(),
                class,
                symbol,
                words: outcome_words(o.outcome),
                message: o.message.clone(),
            })
        })
        .collect();
    let mut logs = Vec::new();
    let mut timings = Vec::new();
    if let Some(r) = record {
        for (name, rel) in &r.logs {
            let path = run.layout.path(rel);
            let (text, note) = match read_tail(&path, max_log_bytes as u64) {
                Ok(tail) => {
                    let note = tail.tail_note();
                    (tail.text, note)
                }
                Err(e) => {
                    warnings.push(format!("could not read log {}: {e}", path.display()));
                    (String::new(), Some(format!("could not be read: {e}")))
                }
            };
            logs.push(LogView {
                name: name.clone(),
                path: rel.clone(),
                text,
                note,
            });
        }
        let tm = &r.timings;
        for (phase, ms) in [
            ("pod start", tm.pod_ms),
            ("ready", tm.ready_ms),
            ("patch", tm.patch_ms),
            ("build", tm.build_ms),
            ("test", tm.test_ms),
            ("collect", tm.collect_ms),
            ("remove", tm.remove_ms),
            ("total", tm.total_ms),
        ] {
            timings.push((phase.to_string(), format!("{ms} ms")));
        }
    }
    TrialView {
        datapoint: datapoint.to_string(),
        candidate: c.id.clone(),
        kind: c.kind.to_string(),
        trial: t.trial,
        verdict: t.verdict.as_str().to_string(),
        verdict_class,
        verdict_words,
        counts: t.counts,
        error: t.error.clone(),
        back: format!(
            "{root}{}#{}",
            datapoint_href(datapoint),
            candidate_anchor(&c.id)
        ),
        timeline: related
            .has_timeline
            .then(|| format!("{root}{}", timeline_href(datapoint, &c.id))),
        sample: related.sample.map(|s| s.at(root).href),
        exit_code: record.and_then(|r| r.exit_code),
        failing,
        inconsistencies: record
            .map(|r| r.inconsistencies.clone())
            .unwrap_or_default()
            .into_iter()
            .chain(t.notes.iter().cloned())
            .collect(),
        timings,
        logs,
    }
}
