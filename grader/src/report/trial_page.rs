//! A failing trial's page: why it failed (verdict, error, the tests that did
//! not pass with their messages) and the end of each of its logs, read from
//! the run folder and shown as escaped text.

use serde::Serialize;

use super::display::{outcome, outcome_words, verdict};
use super::page::{candidate_anchor, datapoint_href, timeline_href};
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

#[derive(Debug, Serialize)]
struct LogView {
    name: String,
    path: String,
    text: String,
    note: Option<String>,
}

/// The last `max` bytes of a log, starting at a line boundary, and a note when cut.
fn tail(bytes: &[u8], max: usize) -> (String, Option<String>) {
    if bytes.len() <= max {
        return (String::from_utf8_lossy(bytes).into_owned(), None);
    }
    let cut = &bytes[bytes.len() - max..];
    let start = cut.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    (
        String::from_utf8_lossy(&cut[start..]).into_owned(),
        Some(format!(
            "showing the last {} of {} bytes",
            cut.len() - start,
            bytes.len()
        )),
    )
}

pub(crate) fn build(
    run: &LoadedRun,
    datapoint: &str,
    c: &CandidateSummary,
    t: &TrialSummary,
    has_timeline: bool,
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
            let (text, note) = match std::fs::read(&path) {
                Ok(bytes) => tail(&bytes, max_log_bytes),
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
        timeline: has_timeline.then(|| format!("{root}{}", timeline_href(datapoint, &c.id))),
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

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn long_logs_keep_their_last_whole_lines() {
        let (text, note) = tail(b"first line\nsecond line\nthird\n", 12);
        assert_eq!(text, "third\n");
        assert_eq!(note.unwrap(), "showing the last 6 of 29 bytes");
        assert_eq!(tail(b"short", 12), ("short".to_string(), None));
    }
}
