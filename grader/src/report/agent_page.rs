//! An agent sample's page: how the agent ended (exit status, time, tokens
//! and cost), what it left (the diff, the end of its logs, the sandbox's
//! timeline) and the verification trials of its diff. Everything the agent
//! wrote is passed on as text for the templates to escape.

use serde::Serialize;

use super::diff_lines::{diff_lines, DiffLine};
use super::display::{agent_end, count, duration_ms, interval, opt_score, usd};
use super::log_view::LogView;
use super::page::{agent_href, candidate_anchor, datapoint_href};
use super::trial_strip::{trial_strip, StripCell};
use crate::agent_sample::AgentSample;
use crate::summary::CandidateSummary;
use crate::timeline::{render_svg, render_text, Timeline};
use racebench_model::AgentUsage;

#[derive(Debug, Serialize)]
pub(crate) struct AgentView {
    datapoint: String,
    candidate: String,
    agent: String,
    sample: u32,
    dir: String,
    back: String,
    end: &'static str,
    end_class: &'static str,
    end_words: String,
    exit_code: Option<i64>,
    started_at: String,
    finished_at: String,
    durations: Vec<(String, String)>,
    usage: Option<UsageView>,
    error: Option<String>,
    notes: Vec<String>,
    problems: Vec<String>,
    verification: Verification,
    files: Vec<String>,
    diff: DiffView,
    logs: Vec<LogView>,
    timeline: Option<SandboxTimeline>,
    /// Why there is no timeline, when there is none.
    timeline_note: Option<String>,
    outputs: Vec<String>,
}

/// Tokens and cost, each shown as `–` when the agent did not report it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UsageView {
    input_tokens: String,
    output_tokens: String,
    cost: String,
}

impl UsageView {
    pub(crate) fn of(u: &AgentUsage) -> UsageView {
        UsageView {
            input_tokens: u.input_tokens.map_or("–".into(), count),
            output_tokens: u.output_tokens.map_or("–".into(), count),
            cost: u.cost_usd.map_or("–".into(), usd),
        }
    }
}

#[derive(Debug, Serialize)]
struct Verification {
    graded: bool,
    strict: String,
    lenient: String,
    interval: String,
    solved: bool,
    counted: u32,
    planned: u32,
    strip: Vec<StripCell>,
    /// The candidate's trials on its datapoint's page.
    href: String,
}

#[derive(Debug, Serialize)]
struct DiffView {
    path: Option<String>,
    lines: Vec<DiffLine>,
    note: Option<String>,
    empty: bool,
}

#[derive(Debug, Serialize)]
struct SandboxTimeline {
    path: String,
    /// Built and escaped by the grader.
    svg: String,
    text: String,
    events: usize,
    windows: usize,
    note: Option<String>,
}

/// What other pages show of a sample, with the link to its page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SampleBrief {
    pub agent: String,
    pub href: String,
    pub end: &'static str,
    pub end_class: &'static str,
    pub exit_code: Option<i64>,
    pub duration: String,
    pub empty_diff: bool,
    pub usage: Option<UsageView>,
    #[serde(skip)]
    pub raw_usage: Option<AgentUsage>,
}

impl SampleBrief {
    /// The brief for a page `root` below the report's root.
    pub(crate) fn at(&self, root: &str) -> SampleBrief {
        SampleBrief {
            href: format!("{root}{}", self.href),
            ..self.clone()
        }
    }
}

fn is_empty_diff(s: &AgentSample) -> bool {
    s.record.empty_diff || s.diff.as_ref().is_some_and(|d| d.excerpt.total_bytes == 0)
}

pub(crate) fn brief(datapoint: &str, s: &AgentSample) -> SampleBrief {
    let r = &s.record;
    SampleBrief {
        agent: r.agent.clone(),
        href: agent_href(datapoint, &r.candidate),
        end: r.end.as_str(),
        end_class: agent_end(r.end, r.exit_code).0,
        exit_code: r.exit_code,
        duration: duration_ms(r.agent_ms),
        empty_diff: is_empty_diff(s),
        usage: s.usage.as_ref().map(UsageView::of),
        raw_usage: s.usage.clone(),
    }
}

pub(crate) fn build(datapoint: &str, c: &CandidateSummary, s: &AgentSample) -> AgentView {
    let root = "../../";
    let r = &s.record;
    let (end_class, end_words) = agent_end(r.end, r.exit_code);
    let back = format!(
        "{root}{}#{}",
        datapoint_href(datapoint),
        candidate_anchor(&c.id)
    );
    let empty = is_empty_diff(s);
    let diff = match &s.diff {
        Some(d) => DiffView {
            path: Some(d.rel.clone()),
            lines: diff_lines(&d.excerpt.text),
            note: if empty {
                Some("empty diff: the agent left the work tree as it found it, so every trial of it ends as patch_failed".into())
            } else {
                d.excerpt.head_note()
            },
            empty,
        },
        None => DiffView {
            path: None,
            lines: Vec::new(),
            note: Some(if r.empty_diff {
                "empty diff: the agent left the work tree as it found it".into()
            } else {
                "the sample's folder keeps no fix.diff".into()
            }),
            empty,
        },
    };
    let logs = s
        .logs
        .iter()
        .map(|f| LogView {
            name: f.name.clone(),
            path: f.rel.clone(),
            text: f.excerpt.text.clone(),
            note: f.excerpt.tail_note(),
        })
        .collect();
    let (timeline, timeline_note) = match &s.events {
        Some(e) if !e.events.is_empty() => {
            let full = Timeline::from_events(&e.events);
            let mut notes = Vec::new();
            if e.shown_bytes < e.total_bytes {
                notes.push(format!(
                    "drawn from the last {} of {} bytes of the events file",
                    e.shown_bytes, e.total_bytes
                ));
            }
            if e.skipped > 0 {
                notes.push(format!("{} line(s) were not events", e.skipped));
            }
            (
                Some(SandboxTimeline {
                    path: e.rel.clone(),
                    svg: render_svg(&Timeline::focused(&e.events)),
                    text: render_text(&full),
                    events: full.events.len(),
                    windows: full.windows.len(),
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                }),
                None,
            )
        }
        Some(e) => (
            None,
            Some(format!("The sandbox's events file {} holds no events.", e.rel)),
        ),
        None => (
            None,
            Some("The sandbox kept no events file: the datapoint records none, or nothing ran the service while the agent worked.".into()),
        ),
    };
    let t = &c.trials;
    AgentView {
        datapoint: datapoint.to_string(),
        candidate: c.id.clone(),
        agent: r.agent.clone(),
        sample: r.sample,
        dir: s.dir.clone(),
        back: back.clone(),
        end: r.end.as_str(),
        end_class,
        end_words,
        exit_code: r.exit_code,
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        durations: [
            ("sandbox start", r.sandbox_ms),
            ("agent", r.agent_ms),
            ("diff", r.diff_ms),
            ("total", r.sandbox_ms + r.agent_ms + r.diff_ms),
        ]
        .into_iter()
        .map(|(what, ms)| (what.to_string(), duration_ms(ms)))
        .collect(),
        usage: s.usage.as_ref().map(UsageView::of),
        error: r.error.clone(),
        notes: r.notes.clone(),
        problems: s.problems.clone(),
        verification: Verification {
            graded: c.score.is_some(),
            strict: opt_score(c.score.map(|s| s.strict)),
            lenient: opt_score(c.score.map(|s| s.lenient)),
            interval: c.score.map_or("–".into(), |s| interval(s.interval)),
            solved: c.score.is_some_and(|s| s.solved),
            counted: t.counted,
            planned: t.planned,
            strip: trial_strip(datapoint, c, root),
            href: back,
        },
        files: r.files.clone(),
        diff,
        logs,
        timeline,
        timeline_note,
        outputs: r.outputs.clone(),
    }
}
