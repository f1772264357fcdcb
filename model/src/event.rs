//! Timeline events a datapoint's service may record (one JSON object per line)
//! so a failing trial can be explained by *when* things happened, like the
//! seed's "What the Timeline Reveals" block.

use serde::{Deserialize, Serialize};

/// What happened to an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Scheduled,
    Started,
    Completed,
    Failed,
    /// A timer or deliberate delay fired (e.g. a processing delay).
    Timer,
    /// Anything else worth showing.
    Note,
}

/// The part an activity plays in a check-then-act pattern, so the timeline can
/// mark the check that passed and the act that then failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventRole {
    /// Reads state and decides (CheckInventory).
    Check,
    /// Acts on the decision (ReserveInventory).
    Act,
}

/// One line of an events file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Microseconds on a monotonic clock; only differences matter.
    pub at_us: u64,
    /// The workflow or request this event belongs to (e.g. `order-123456`).
    pub flow: String,
    /// The activity name (e.g. `CheckInventory`).
    pub activity: String,
    pub kind: EventKind,
    /// What the activity is about (e.g. the SKU `KEYBOARD-03`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<EventRole>,
    /// Human-readable result or error (e.g. `Available=true, InStock=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Parses a JSON-lines events file; returns the events and, for each bad line,
/// its 1-based number and why it was skipped.
pub fn parse_events(text: &str) -> (Vec<Event>, Vec<(usize, String)>) {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(e) => events.push(e),
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    events.sort_by_key(|e| e.at_us);
    (events, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_reports_bad_ones() {
        let text = r#"{"at_us":5,"flow":"o1","activity":"Reserve","kind":"failed","subject":"K","role":"act","detail":"available 0"}
not json
{"at_us":1,"flow":"o1","activity":"Check","kind":"completed","role":"check"}
"#;
        let (events, bad) = parse_events(text);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].activity, "Check", "sorted by time");
        assert_eq!(events[1].role, Some(EventRole::Act));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
    }
}
