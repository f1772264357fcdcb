//! A candidate's timeline page: the SVG of a failing trial's events (or the
//! first trial's when none failed), the same timeline as text, and every
//! event in a table.

use serde::Serialize;

use super::display::name_of;
use super::page::{candidate_anchor, datapoint_href, trial_href};
use crate::load::LoadedRun;
use crate::summary::CandidateSummary;
use crate::timeline::{describe, format_ms, load_trial_events, render_svg, render_text, Timeline};

#[derive(Debug, Serialize)]
pub(crate) struct TimelineView {
    datapoint: String,
    candidate: String,
    kind: String,
    trial: u32,
    why: String,
    svg: String,
    text: String,
    windows: Vec<WindowView>,
    events: Vec<EventRow>,
    skipped: Vec<String>,
    events_path: String,
    back: String,
    trial_page: Option<String>,
    other_trials: Vec<u32>,
}

#[derive(Debug, Serialize)]
struct WindowView {
    subject: String,
    flow: String,
    start: String,
    end: String,
    length: String,
    inside: Vec<String>,
}

#[derive(Debug, Serialize)]
struct EventRow {
    t: String,
    flow: String,
    activity: String,
    subject: String,
    kind: String,
    role: String,
    detail: String,
    marker: Option<&'static str>,
    marker_class: String,
}

/// The trial to draw: the first counting trial that failed and recorded
/// events, else the first trial with events.
fn pick(c: &CandidateSummary) -> Option<(u32, String)> {
    let with_events = || c.trial_results.iter().filter(|t| t.has_events);
    if let Some(t) = with_events().find(|t| t.counts && !t.clean()) {
        return Some((
            t.trial,
            "the first failing trial that recorded events".to_string(),
        ));
    }
    let t = with_events().next()?;
    let why = if c.counting_trials().any(|t| !t.clean()) {
        "no failing trial recorded events; this is the first trial that did".to_string()
    } else {
        "no trial failed; this is the first trial that recorded events".to_string()
    };
    Some((t.trial, why))
}

/// The view, the timeline and the trial drawn, or `None` when the candidate has no events.
pub(crate) fn build(
    run: &LoadedRun,
    datapoint: &str,
    c: &CandidateSummary,
    warnings: &mut Vec<String>,
) -> Option<(TimelineView, String)> {
    let (trial, why) = pick(c)?;
    let events = match load_trial_events(run, datapoint, &c.id, trial) {
        Ok(Some(events)) => events,
        Ok(None) => return None,
        Err(e) => {
            let mut message = e.to_string();
            if let Some(source) = std::error::Error::source(&e) {
                message = format!("{message}: {source}");
            }
            warnings.push(format!(
                "could not draw the timeline of {datapoint}/{}: failed to {message}",
                c.id
            ));
            return None;
        }
    };
    let timeline: Timeline = events.timeline();
    // The picture shows the racing flows alone; the text below keeps them all.
    let svg = render_svg(&Timeline::focused(&events.events));
    let root = "../../";
    let rel = events
        .path
        .strip_prefix(run.dir())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| events.path.display().to_string());
    let view = TimelineView {
        datapoint: datapoint.to_string(),
        candidate: c.id.clone(),
        kind: c.kind.to_string(),
        trial,
        why,
        svg: svg.clone(),
        text: render_text(&timeline),
        windows: timeline
            .windows
            .iter()
            .map(|w| WindowView {
                subject: w.subject.clone(),
                flow: w.flow.clone(),
                start: format_ms(w.start_ms),
                end: format_ms(w.end_ms),
                length: format_ms(w.length_ms()),
                inside: w
                    .intruders
                    .iter()
                    .map(|&i| {
                        let e = &timeline.events[i];
                        format!("T+{}ms · {} · {}", format_ms(e.t_ms), e.flow, describe(e))
                    })
                    .collect(),
            })
            .collect(),
        events: timeline
            .events
            .iter()
            .map(|e| EventRow {
                t: format_ms(e.t_ms),
                flow: e.flow.clone(),
                activity: e.activity.clone(),
                subject: e.subject.clone().unwrap_or_default(),
                kind: name_of(e.kind),
                role: e.role.map(name_of).unwrap_or_default(),
                detail: e.detail.clone().unwrap_or_default(),
                marker: e.marker.map(|m| m.label()),
                marker_class: e.marker.map(name_of).unwrap_or_default(),
            })
            .collect(),
        skipped: events
            .skipped
            .iter()
            .map(|(line, why)| format!("line {line}: {why}"))
            .collect(),
        events_path: rel,
        back: format!(
            "{root}{}#{}",
            datapoint_href(datapoint),
            candidate_anchor(&c.id)
        ),
        trial_page: super::datapoint_page::has_trial_page(c, trial)
            .then(|| format!("{root}{}", trial_href(datapoint, &c.id, trial))),
        other_trials: c
            .trial_results
            .iter()
            .filter(|t| t.has_events && t.trial != trial)
            .map(|t| t.trial)
            .collect(),
    };
    Some((view, svg))
}
