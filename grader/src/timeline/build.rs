//! Building a [`Timeline`] from raw events: times relative to the first
//! event, flows in order of appearance, race windows found from the
//! check/act roles, and a marker on every event that explains the race.

use racebench_model::{Event, EventKind, EventRole};
use serde::{Deserialize, Serialize};

/// Version of the timeline JSON (`racebench timeline --format json`).
pub const TIMELINE_FORMAT: u32 = 1;

/// A trial's events, ready to be drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub format: u32,
    /// `at_us` of the first event: T+0.
    pub origin_us: u64,
    /// Time of the last event, in milliseconds after the first.
    pub duration_ms: f64,
    /// Flow names in order of first appearance.
    pub flows: Vec<String>,
    /// Every event, in time order.
    pub events: Vec<TimelineEvent>,
    pub windows: Vec<RaceWindow>,
}

/// One event, relative to the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds after the first event (T+ms).
    pub t_ms: f64,
    pub flow: String,
    pub activity: String,
    pub kind: EventKind,
    pub subject: Option<String>,
    pub role: Option<EventRole>,
    pub detail: Option<String>,
    /// Why this event matters to a race, if it does.
    pub marker: Option<Marker>,
}

/// The part an event plays in a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marker {
    /// A check that completed and opened a race window.
    CheckPassed,
    /// A check that failed.
    CheckFailed,
    /// An act that failed (closing a race window when a check preceded it).
    ActFailed,
    /// Another flow's event on the same subject inside a race window.
    InWindow,
    /// A timer of the racing flow that fired inside its window (the delay).
    Delay,
}

impl Marker {
    /// The words shown after `←` in the text timeline.
    pub fn label(self) -> &'static str {
        match self {
            Marker::CheckPassed => "check passed",
            Marker::CheckFailed => "check failed",
            Marker::ActFailed => "act failed",
            Marker::InWindow => "in race window",
            Marker::Delay => "race window",
        }
    }
}

/// A check that passed for a subject, followed later in the same flow by an
/// act on that subject that failed; what other flows did to the subject in
/// between is what broke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceWindow {
    pub flow: String,
    pub subject: String,
    /// Index in `events` of the check that passed (the latest before the act).
    pub check: usize,
    /// Index in `events` of the act that failed.
    pub act: usize,
    pub start_ms: f64,
    pub end_ms: f64,
    /// Indices of other flows' events on the same subject inside the window.
    pub intruders: Vec<usize>,
}

impl RaceWindow {
    pub fn length_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

impl Timeline {
    /// Builds the timeline of `events` (in any order; ties keep their order).
    /// The flows that raced, alone: each window's flow and the flows that
    /// touched its subject inside the window, rebuilt from `events` so T+0 is
    /// their first event. With no race window, the whole timeline. This is
    /// what a picture should show when a trial ran many unrelated flows.
    pub fn focused(events: &[Event]) -> Timeline {
        let full = Timeline::from_events(events);
        if full.windows.is_empty() {
            return full;
        }
        let mut racing: Vec<&str> = Vec::new();
        for w in &full.windows {
            racing.push(&w.flow);
            racing.extend(w.intruders.iter().map(|&i| full.events[i].flow.as_str()));
        }
        let kept: Vec<Event> = events
            .iter()
            .filter(|e| racing.contains(&e.flow.as_str()))
            .cloned()
            .collect();
        Timeline::from_events(&kept)
    }

    pub fn from_events(events: &[Event]) -> Timeline {
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by_key(|e| e.at_us);
        let origin_us = sorted.first().map_or(0, |e| e.at_us);
        let mut flows: Vec<String> = Vec::new();
        let mut events: Vec<TimelineEvent> = sorted
            .iter()
            .map(|e| {
                if !flows.contains(&e.flow) {
                    flows.push(e.flow.clone());
                }
                TimelineEvent {
                    t_ms: (e.at_us - origin_us) as f64 / 1000.0,
                    flow: e.flow.clone(),
                    activity: e.activity.clone(),
                    kind: e.kind,
                    subject: e.subject.clone(),
                    role: e.role,
                    detail: e.detail.clone(),
                    marker: None,
                }
            })
            .collect();
        let windows = find_windows(&events);
        mark(&mut events, &windows);
        Timeline {
            format: TIMELINE_FORMAT,
            origin_us,
            duration_ms: events.last().map_or(0.0, |e| e.t_ms),
            flows,
            events,
            windows,
        }
    }

    /// Indices of the events of one flow.
    pub fn events_of<'a>(
        &'a self,
        flow: &'a str,
    ) -> impl Iterator<Item = (usize, &'a TimelineEvent)> {
        self.events
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.flow == flow)
    }
}

fn is(e: &TimelineEvent, role: EventRole, kind: EventKind) -> bool {
    e.role == Some(role) && e.kind == kind
}

fn find_windows(events: &[TimelineEvent]) -> Vec<RaceWindow> {
    let mut windows = Vec::new();
    for (act, a) in events.iter().enumerate() {
        let Some(subject) = a.subject.as_deref() else {
            continue;
        };
        if !is(a, EventRole::Act, EventKind::Failed) {
            continue;
        }
        let check = events[..act].iter().rposition(|c| {
            c.flow == a.flow
                && c.subject.as_deref() == Some(subject)
                && is(c, EventRole::Check, EventKind::Completed)
        });
        let Some(check) = check else {
            continue;
        };
        let (start_ms, end_ms) = (events[check].t_ms, a.t_ms);
        let intruders = events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.flow != a.flow
                    && e.subject.as_deref() == Some(subject)
                    && e.t_ms >= start_ms
                    && e.t_ms <= end_ms
            })
            .map(|(i, _)| i)
            .collect();
        windows.push(RaceWindow {
            flow: a.flow.clone(),
            subject: subject.to_string(),
            check,
            act,
            start_ms,
            end_ms,
            intruders,
        });
    }
    windows
}

fn mark(events: &mut [TimelineEvent], windows: &[RaceWindow]) {
    for w in windows {
        events[w.check].marker = Some(Marker::CheckPassed);
        for &i in &w.intruders {
            events[i].marker.get_or_insert(Marker::InWindow);
        }
        for e in events.iter_mut() {
            if e.flow == w.flow
                && e.kind == EventKind::Timer
                && e.t_ms > w.start_ms
                && e.t_ms < w.end_ms
            {
                e.marker.get_or_insert(Marker::Delay);
            }
        }
    }
    for e in events.iter_mut() {
        if is(e, EventRole::Act, EventKind::Failed) {
            e.marker = Some(Marker::ActFailed);
        } else if is(e, EventRole::Check, EventKind::Failed) {
            e.marker.get_or_insert(Marker::CheckFailed);
        }
    }
}

/// The timeline as pretty JSON (documented in `docs/summary-format.md`).
pub fn to_json(timeline: &Timeline) -> String {
    serde_json::to_string_pretty(timeline).expect("a timeline always serializes")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn event(
        at_ms: u64,
        flow: &str,
        activity: &str,
        kind: EventKind,
        subject: &str,
        role: Option<EventRole>,
        detail: Option<&str>,
    ) -> Event {
        Event {
            at_us: 1_000_000 + at_ms * 1000,
            flow: flow.into(),
            activity: activity.into(),
            kind,
            subject: Some(subject.into()).filter(|s: &String| !s.is_empty()),
            role,
            detail: detail.map(String::from),
        }
    }

    /// The seed's scenario: check at 3ms, a competitor reserves at 44ms, the
    /// delayed reserve fails at 215ms.
    pub(crate) fn seed() -> Vec<Event> {
        use EventKind::*;
        use EventRole::*;
        vec![
            event(
                0,
                "order-1",
                "CheckInventory",
                Scheduled,
                "KEYBOARD-03",
                Some(Check),
                None,
            ),
            event(
                3,
                "order-1",
                "CheckInventory",
                Completed,
                "KEYBOARD-03",
                Some(Check),
                Some("InStock=1"),
            ),
            event(
                44,
                "competing-1",
                "ReserveInventory",
                Completed,
                "KEYBOARD-03",
                Some(Act),
                Some("InStock 1 -> 0"),
            ),
            event(
                50,
                "competing-1",
                "ReserveInventory",
                Completed,
                "MOUSE-002",
                Some(Act),
                None,
            ),
            event(200, "order-1", "ProcessingDelay", Timer, "", None, None),
            event(
                215,
                "order-1",
                "ReserveInventory",
                Failed,
                "KEYBOARD-03",
                Some(Act),
                Some("available 0"),
            ),
        ]
    }

    #[test]
    fn times_are_relative_to_the_first_event() {
        let t = Timeline::from_events(&seed());
        assert_eq!(t.origin_us, 1_000_000);
        assert_eq!(t.events[1].t_ms, 3.0);
        assert_eq!(t.duration_ms, 215.0);
        assert_eq!(t.flows, ["order-1", "competing-1"]);
    }

    #[test]
    fn a_passed_check_then_a_failed_act_is_a_race_window() {
        let t = Timeline::from_events(&seed());
        assert_eq!(t.windows.len(), 1);
        let w = &t.windows[0];
        assert_eq!((w.check, w.act, w.length_ms()), (1, 5, 212.0));
        assert_eq!(
            w.intruders,
            [2],
            "the competitor's reservation, not its other SKU"
        );
        assert_eq!(t.events[1].marker, Some(Marker::CheckPassed));
        assert_eq!(t.events[2].marker, Some(Marker::InWindow));
        assert_eq!(t.events[4].marker, Some(Marker::Delay));
        assert_eq!(t.events[5].marker, Some(Marker::ActFailed));
    }

    #[test]
    fn a_failed_act_without_a_check_is_marked_but_opens_no_window() {
        let events = vec![event(
            0,
            "o",
            "Reserve",
            EventKind::Failed,
            "K",
            Some(EventRole::Act),
            None,
        )];
        let t = Timeline::from_events(&events);
        assert!(t.windows.is_empty());
        assert_eq!(t.events[0].marker, Some(Marker::ActFailed));
    }

    #[test]
    fn a_check_in_another_flow_does_not_open_a_window() {
        use EventKind::*;
        use EventRole::*;
        let events = vec![
            event(0, "a", "Check", Completed, "K", Some(Check), None),
            event(5, "b", "Reserve", Failed, "K", Some(Act), None),
        ];
        assert!(Timeline::from_events(&events).windows.is_empty());
    }

    #[test]
    fn the_window_starts_at_the_latest_check() {
        use EventKind::*;
        use EventRole::*;
        let events = vec![
            event(0, "a", "Check", Completed, "K", Some(Check), None),
            event(10, "a", "Check", Completed, "K", Some(Check), None),
            event(12, "a", "Reserve", Failed, "K", Some(Act), None),
        ];
        let t = Timeline::from_events(&events);
        assert_eq!(t.windows[0].start_ms, 10.0);
        assert_eq!(t.events[0].marker, None);
    }

    #[test]
    fn focused_keeps_only_the_racing_flows() {
        let mut events = seed();
        for e in &mut events {
            e.at_us += 5_000;
        }
        events.insert(
            0,
            Event {
                at_us: 0,
                flow: "warmup".into(),
                activity: "CheckInventory".into(),
                kind: EventKind::Completed,
                subject: Some("OTHER".into()),
                role: Some(EventRole::Check),
                detail: None,
            },
        );
        let full = Timeline::from_events(&events);
        assert!(full.flows.contains(&"warmup".to_string()));
        let focused = Timeline::focused(&events);
        assert!(!focused.flows.contains(&"warmup".to_string()));
        assert_eq!(focused.windows.len(), full.windows.len());
        let first_racing = events
            .iter()
            .filter(|e| e.flow != "warmup")
            .map(|e| e.at_us)
            .min();
        assert_eq!(
            Some(focused.origin_us),
            first_racing,
            "re-based on the racing flows"
        );
        assert_eq!(focused.events[0].t_ms, 0.0);
    }

    #[test]
    fn no_events_is_an_empty_timeline() {
        let t = Timeline::from_events(&[]);
        assert!(t.events.is_empty() && t.windows.is_empty());
        assert_eq!(t.duration_ms, 0.0);
    }
}
