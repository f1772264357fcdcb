//! The timeline as text, in the shape of the seed's "What the Timeline
//! Reveals" block: `T+3ms  CheckInventory (KEYBOARD-03) completed: ...  ← check passed`,
//! then one sentence per race window saying what happened inside it.

use std::fmt::Write;

use racebench_model::EventKind;

use super::build::{Timeline, TimelineEvent};

/// Formats milliseconds as the timeline writes them: `3`, `1.5`, `215`.
pub fn format_ms(ms: f64) -> String {
    let tenths = (ms * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{}", tenths as i64)
    } else {
        format!("{tenths:.1}")
    }
}

/// What the event says, without time, flow or marker.
pub(crate) fn describe(e: &TimelineEvent) -> String {
    let mut s = e.activity.clone();
    if let Some(subject) = &e.subject {
        let _ = write!(s, " ({subject})");
    }
    let word = match e.kind {
        EventKind::Scheduled => "scheduled",
        EventKind::Started => "started",
        EventKind::Completed => "completed",
        EventKind::Failed => "FAILED",
        EventKind::Timer => "fired",
        EventKind::Note => "",
    };
    if !word.is_empty() {
        s.push(' ');
        s.push_str(word);
    }
    match (&e.detail, e.kind) {
        (Some(_), EventKind::Failed) | (None, _) => {}
        (Some(detail), _) => {
            let _ = write!(s, ": {detail}");
        }
    }
    s
}

/// Renders the timeline as aligned text lines.
pub fn render_text(timeline: &Timeline) -> String {
    let mut out = String::new();
    if timeline.events.is_empty() {
        out.push_str("(no events recorded)\n");
        return out;
    }
    let times: Vec<String> = timeline
        .events
        .iter()
        .map(|e| format!("T+{}ms", format_ms(e.t_ms)))
        .collect();
    let time_width = times.iter().map(|t| t.len()).max().unwrap_or(0) + 2;
    let show_flow = timeline.flows.len() > 1;
    let flow_width = if show_flow {
        timeline
            .flows
            .iter()
            .map(|f| f.chars().count())
            .max()
            .unwrap_or(0)
            + 2
    } else {
        0
    };
    let descriptions: Vec<String> = timeline.events.iter().map(describe).collect();
    let marker_column = descriptions
        .iter()
        .zip(&timeline.events)
        .filter(|(_, e)| e.marker.is_some())
        .map(|(d, _)| d.chars().count())
        .max()
        .unwrap_or(0)
        .min(72);
    for ((e, time), description) in timeline.events.iter().zip(&times).zip(&descriptions) {
        let mut line = format!("{time:<time_width$}");
        if show_flow {
            let _ = write!(line, "{:<flow_width$}", e.flow);
        }
        line.push_str(description);
        if let Some(marker) = e.marker {
            let pad = marker_column.saturating_sub(description.chars().count());
            let _ = write!(line, "{}  ← {}", " ".repeat(pad), marker.label());
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if let (EventKind::Failed, Some(detail)) = (e.kind, &e.detail) {
            let indent = " ".repeat(time_width + flow_width);
            let _ = writeln!(out, "{indent}Error: {detail:?}");
        }
    }
    out.push('\n');
    if timeline.windows.is_empty() {
        out.push_str("No race window: no check that passed was followed, in the same flow, by a failed act on the same subject.\n");
    }
    for w in &timeline.windows {
        let _ = writeln!(
            out,
            "Race window on {} in {}: the check passed at T+{}ms and the act failed at T+{}ms, {}ms later.",
            w.subject,
            w.flow,
            format_ms(w.start_ms),
            format_ms(w.end_ms),
            format_ms(w.length_ms()),
        );
        if w.intruders.is_empty() {
            let _ = writeln!(
                out,
                "  No other flow recorded anything on {} inside the window.",
                w.subject
            );
        }
        for &i in &w.intruders {
            let e = &timeline.events[i];
            let _ = writeln!(
                out,
                "  Inside it, at T+{}ms: {} {}",
                format_ms(e.t_ms),
                e.flow,
                describe(e)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::build::tests::seed;
    use super::*;

    #[test]
    fn milliseconds_drop_needless_decimals() {
        assert_eq!(format_ms(3.0), "3");
        assert_eq!(format_ms(1.54), "1.5");
        assert_eq!(format_ms(0.04), "0");
    }

    #[test]
    fn marks_the_check_and_the_act_like_the_seed() {
        let text = render_text(&Timeline::from_events(&seed()));
        let check = text
            .lines()
            .find(|l| l.contains("completed: InStock=1"))
            .unwrap();
        assert!(check.starts_with("T+3ms"), "{check}");
        assert!(check.ends_with("← check passed"), "{check}");
        let act = text.lines().find(|l| l.contains("FAILED")).unwrap();
        assert!(act.ends_with("← act failed"), "{act}");
        assert!(text.contains("Error: \"available 0\""), "{text}");
        assert!(
            text.contains("Race window on KEYBOARD-03 in order-1"),
            "{text}"
        );
        assert!(text.contains("212ms later"), "{text}");
        assert!(
            text.contains("at T+44ms: competing-1 ReserveInventory (KEYBOARD-03) completed"),
            "{text}"
        );
    }
}
