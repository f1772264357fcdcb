//! The timeline as an SVG picture: one swim lane per flow, activities as bars
//! from scheduled to completed or failed, a time axis in milliseconds, race
//! windows shaded with the check that passed, the act that failed and the
//! other flow's act in between linked by an arrow. Self-contained: no
//! scripts, fonts or external references; every label is escaped.

use std::collections::HashMap;
use std::fmt::Write;

use racebench_model::{EventKind, EventRole};

use super::build::{Marker, Timeline};
use super::text::{describe, format_ms};
use crate::escape::xml;

const WIDTH: f64 = 1120.0;
const LANE_LABEL: f64 = 180.0;
const PLOT_LEFT: f64 = LANE_LABEL + 16.0;
/// The plot leaves a gutter on the right for the labels of the last events.
const PLOT_RIGHT: f64 = WIDTH - 290.0;
const AXIS: f64 = 40.0;
const BAND: f64 = 26.0;
const ROW: f64 = 28.0;
const LANE_PAD: f64 = 10.0;
const BAR: f64 = 14.0;
const LEGEND: f64 = 48.0;
/// Width of one character of the 11px monospace labels.
const CHAR: f64 = 6.7;
const LABEL_MAX: usize = 46;
/// Flows drawn at most; the racing ones always are.
const MAX_LANES: usize = 12;

const SANS: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const MONO: &str = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// From a scheduled/started event to the event that ended it (none: never ended).
    Bar(Option<EventKind>),
    /// A timer or note with nothing to pair with.
    Point(EventKind),
}

#[derive(Debug)]
struct Item {
    flow: usize,
    start: f64,
    end: f64,
    shape: Shape,
    label: String,
    events: Vec<usize>,
    row: usize,
    label_left: bool,
    /// Room between the bar and its label (wider when a marker sits on the bar's end).
    gap: f64,
}

/// Scale from milliseconds to x.
struct Scale {
    max_ms: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        PLOT_LEFT + ms / self.max_ms * (PLOT_RIGHT - PLOT_LEFT)
    }
}

/// A step of 1, 2 or 5 × 10^n giving about eight ticks.
fn tick_step(duration: f64) -> f64 {
    let raw = (duration / 8.0).max(0.001);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn truncate(label: &str) -> String {
    if label.chars().count() <= LABEL_MAX {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(LABEL_MAX - 1).collect();
        s.push('…');
        s
    }
}

/// The flows given a lane: those in a race window first, then the others in
/// order of appearance, at most [`MAX_LANES`].
fn shown_flows(t: &Timeline) -> Vec<&str> {
    let mut racing: Vec<&str> = Vec::new();
    for w in &t.windows {
        racing.push(&w.flow);
        racing.extend(w.intruders.iter().map(|&i| t.events[i].flow.as_str()));
    }
    let mut shown: Vec<&str> = t
        .flows
        .iter()
        .map(String::as_str)
        .filter(|f| racing.contains(f))
        .take(MAX_LANES)
        .collect();
    for f in &t.flows {
        if shown.len() >= MAX_LANES {
            break;
        }
        if !shown.contains(&f.as_str()) {
            shown.push(f);
        }
    }
    // Keep the order of appearance among the lanes shown.
    shown.sort_by_key(|f| t.flows.iter().position(|g| g == f));
    shown
}

/// Pairs events into bars (scheduled/started → completed/failed/timer of the
/// same flow, activity and subject) and points, for the flows shown.
fn items(t: &Timeline, shown: &[&str]) -> Vec<Item> {
    let flow_index: HashMap<&str, usize> = shown.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let mut items: Vec<Item> = Vec::new();
    let mut open: HashMap<(&str, &str, Option<&str>), usize> = HashMap::new();
    for (i, e) in t.events.iter().enumerate() {
        if !flow_index.contains_key(e.flow.as_str()) {
            continue;
        }
        let key = (e.flow.as_str(), e.activity.as_str(), e.subject.as_deref());
        let name = match &e.subject {
            Some(s) => format!("{} ({s})", e.activity),
            None => e.activity.clone(),
        };
        let new = |shape, label: String| Item {
            flow: flow_index[e.flow.as_str()],
            start: e.t_ms,
            end: e.t_ms,
            shape,
            label,
            events: vec![i],
            row: 0,
            label_left: false,
            gap: 8.0,
        };
        match e.kind {
            EventKind::Scheduled | EventKind::Started => match open.get(&key) {
                Some(&j) => items[j].events.push(i),
                None => {
                    open.insert(key, items.len());
                    items.push(new(Shape::Bar(None), name));
                }
            },
            EventKind::Completed | EventKind::Failed | EventKind::Timer => {
                match open.remove(&key) {
                    Some(j) => {
                        items[j].end = e.t_ms;
                        items[j].shape = Shape::Bar(Some(e.kind));
                        items[j].events.push(i);
                    }
                    None if e.kind == EventKind::Timer => {
                        items.push(new(Shape::Point(e.kind), format!("{name} fired")))
                    }
                    None => items.push(new(Shape::Bar(Some(e.kind)), name)),
                }
            }
            EventKind::Note => items.push(new(Shape::Point(e.kind), name)),
        }
    }
    for &j in open.values() {
        items[j].end = t.duration_ms;
    }
    for item in &mut items {
        if item.events.iter().any(|&i| t.events[i].marker.is_some()) {
            item.gap = 14.0;
        }
        let length = item.end - item.start;
        if matches!(item.shape, Shape::Bar(_)) && length >= 1.0 {
            let _ = write!(item.label, " · {}ms", format_ms(length));
        }
        item.label = truncate(&item.label);
    }
    items
}

/// Puts each item of a flow on the first row where its bar and label fit;
/// returns the number of rows per flow.
fn assign_rows(items: &mut [Item], flows: usize, scale: &Scale) -> Vec<usize> {
    let mut rows = vec![Vec::<f64>::new(); flows];
    let mut order: Vec<usize> = (0..items.len()).collect();
    let extent = |item: &mut Item| {
        let x0 = scale.x(item.start);
        let x1 = scale.x(item.end).max(x0 + 4.0);
        let label = item.label.chars().count() as f64 * CHAR + item.gap;
        if x1 + label <= WIDTH - 8.0 {
            item.label_left = false;
            (x0 - item.gap, x1 + label)
        } else {
            item.label_left = true;
            (x0 - label, x1 + item.gap)
        }
    };
    let extents: Vec<(f64, f64)> = items.iter_mut().map(extent).collect();
    order.sort_by(|&a, &b| extents[a].0.total_cmp(&extents[b].0));
    for i in order {
        let (start, end) = extents[i];
        let lane = &mut rows[items[i].flow];
        let row = match lane.iter().position(|&last| last + 4.0 <= start) {
            Some(r) => r,
            None => {
                lane.push(0.0);
                lane.len() - 1
            }
        };
        lane[row] = end;
        items[i].row = row;
    }
    rows.iter().map(|r| r.len().max(1)).collect()
}

/// Renders the timeline as a standalone SVG document.
pub fn render_svg(t: &Timeline) -> String {
    let step = tick_step(t.duration_ms.max(1.0));
    let max_ms = t.duration_ms.max(1.0);
    let scale = Scale { max_ms };
    let shown = shown_flows(t);
    let hidden = t.flows.len() - shown.len();
    let mut items = items(t, &shown);
    let rows = assign_rows(&mut items, shown.len(), &scale);

    let band = if t.windows.is_empty() {
        0.0
    } else {
        BAND * t.windows.len() as f64 + 4.0
    };
    let lanes_top = AXIS + band;
    let mut lane_tops = Vec::new();
    let mut y = lanes_top;
    for &r in &rows {
        lane_tops.push(y);
        y += r as f64 * ROW + 2.0 * LANE_PAD;
    }
    let lanes_bottom = y.max(lanes_top + ROW);
    let note = if hidden > 0 { 22.0 } else { 0.0 };
    let height = lanes_bottom + LEGEND + note;
    let row_y = |flow: usize, row: usize| lane_tops[flow] + LANE_PAD + row as f64 * ROW + ROW / 2.0;
    let mut event_pos: HashMap<usize, (f64, f64)> = HashMap::new();
    for item in &items {
        let y = row_y(item.flow, item.row);
        for &i in &item.events {
            event_pos.insert(i, (scale.x(t.events[i].t_ms), y));
        }
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"rb-timeline\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{}\" font-family=\"{SANS}\" font-size=\"12\">",
        xml(&format!(
            "Timeline of {} events in {} flows over {} ms with {} race windows",
            t.events.len(),
            t.flows.len(),
            format_ms(t.duration_ms),
            t.windows.len()
        ))
    );
    s.push_str("<defs><marker id=\"rb-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0 L10 5 L0 10 z\" fill=\"#e8590c\"/></marker></defs>\n");
    let _ = writeln!(
        s,
        "<rect width=\"{WIDTH}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
    );

    // Lanes.
    for (f, flow) in shown.iter().enumerate() {
        let top = lane_tops[f];
        let h = rows[f] as f64 * ROW + 2.0 * LANE_PAD;
        let fill = if f % 2 == 0 { "#f6f7f9" } else { "#ffffff" };
        let _ = writeln!(
            s,
            "<rect x=\"0\" y=\"{top:.1}\" width=\"{WIDTH}\" height=\"{h:.1}\" fill=\"{fill}\"/>"
        );
        let lost = t.windows.iter().any(|w| w.flow == *flow);
        let count = t.events.iter().filter(|e| e.flow == *flow).count();
        let name = if flow.chars().count() > 24 {
            format!("{}…", flow.chars().take(23).collect::<String>())
        } else {
            flow.to_string()
        };
        let _ = writeln!(
            s,
            "<text x=\"14\" y=\"{:.1}\" font-weight=\"600\" font-size=\"13\" fill=\"#1f2937\"><title>{}</title>{}</text>",
            top + LANE_PAD + 14.0,
            xml(flow),
            xml(&name)
        );
        let (note, colour) = if lost {
            ("lost the race", "#c92a2a")
        } else {
            ("", "#6b7280")
        };
        let _ = writeln!(
            s,
            "<text x=\"14\" y=\"{:.1}\" font-size=\"11\" fill=\"#6b7280\">{count} events<tspan fill=\"{colour}\" font-weight=\"600\">{}</tspan></text>",
            top + LANE_PAD + 30.0,
            if note.is_empty() { String::new() } else { format!(" · {note}") }
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{LANE_LABEL}\" y1=\"{AXIS:.1}\" x2=\"{LANE_LABEL}\" y2=\"{lanes_bottom:.1}\" stroke=\"#d0d5dd\"/>"
    );

    // Axis and grid.
    let mut tick = 0.0;
    while tick <= max_ms + step / 2.0 {
        let x = scale.x(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{lanes_bottom:.1}\" stroke=\"#e4e7ec\"/>",
            AXIS - 6.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#6b7280\">{} ms</text>",
            AXIS - 12.0,
            format_ms(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        s,
        "<text x=\"14\" y=\"{:.1}\" font-size=\"11\" fill=\"#6b7280\">T+ (ms after the first event)</text>",
        AXIS - 12.0
    );

    // Race windows behind the bars.
    for (k, w) in t.windows.iter().enumerate() {
        let (x0, x1) = (scale.x(w.start_ms), scale.x(w.end_ms));
        let _ = writeln!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#ffa94d\" fill-opacity=\"0.16\"/>",
            AXIS,
            (x1 - x0).max(1.0),
            lanes_bottom - AXIS
        );
        for x in [x0, x1] {
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{AXIS:.1}\" x2=\"{x:.1}\" y2=\"{lanes_bottom:.1}\" stroke=\"#e8590c\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>"
            );
        }
        let y = AXIS + 4.0 + k as f64 * BAND;
        let label = format!(
            "race window · {} · {} ms",
            w.subject,
            format_ms(w.length_ms())
        );
        let width = label.chars().count() as f64 * 7.2 + 20.0;
        let lx = if x0 + width <= WIDTH - 4.0 {
            x0
        } else {
            (x1 - width).max(PLOT_LEFT)
        };
        let _ = writeln!(
            s,
            "<g><title>{}</title><rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"20\" rx=\"10\" fill=\"#e8590c\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11.5\" font-weight=\"600\" fill=\"#ffffff\">{}</text></g>",
            xml(&format!(
                "{}: check passed at T+{}ms, act failed at T+{}ms",
                w.flow,
                format_ms(w.start_ms),
                format_ms(w.end_ms)
            )),
            lx + 10.0,
            y + 14.0,
            xml(&label)
        );
    }

    // What connects the race: the other flow's act in the window → the failed act.
    for w in &t.windows {
        let Some(&(ax, ay)) = event_pos.get(&w.act) else {
            continue;
        };
        for &i in &w.intruders {
            let e = &t.events[i];
            if !(e.role == Some(EventRole::Act) && e.kind == EventKind::Completed) {
                continue;
            }
            if let Some(&(ix, iy)) = event_pos.get(&i) {
                let mid = (ix + ax) / 2.0;
                let _ = writeln!(
                    s,
                    "<path d=\"M{ix:.1} {iy:.1} C{mid:.1} {iy:.1} {mid:.1} {ay:.1} {:.1} {ay:.1}\" fill=\"none\" stroke=\"#e8590c\" stroke-opacity=\"0.8\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\" marker-end=\"url(#rb-arrow)\"><title>{}</title></path>",
                    ax - 10.0,
                    xml(&format!("{} acted on {} inside the window", e.flow, w.subject))
                );
            }
        }
    }

    // Bars, points and their labels.
    for item in &items {
        let y = row_y(item.flow, item.row);
        let x0 = scale.x(item.start);
        let x1 = scale.x(item.end).max(x0 + 4.0);
        let intruder = item
            .events
            .iter()
            .any(|&i| t.events[i].marker == Some(Marker::InWindow));
        let tooltip: Vec<String> = item
            .events
            .iter()
            .map(|&i| {
                let e = &t.events[i];
                let mut line = format!("T+{}ms {}", format_ms(e.t_ms), describe(e));
                if let Some(m) = e.marker {
                    let _ = write!(line, " ← {}", m.label());
                }
                line
            })
            .collect();
        let _ = write!(
            s,
            "<g><title>{}</title>",
            xml(&format!("{}\n{}", shown[item.flow], tooltip.join("\n")))
        );
        let mut label_colour = "#1f2937";
        let mut label_weight = "400";
        match item.shape {
            Shape::Bar(end) => {
                let (fill, stroke, dash) = match end {
                    Some(EventKind::Completed) => ("#d3f9d8", "#2b8a3e", ""),
                    Some(EventKind::Failed) => ("#ffe3e3", "#c92a2a", ""),
                    Some(EventKind::Timer) => ("#fff3bf", "#e67700", ""),
                    _ => ("#e9ecef", "#868e96", " stroke-dasharray=\"3 2\""),
                };
                if end == Some(EventKind::Failed) {
                    label_colour = "#c92a2a";
                    label_weight = "600";
                }
                let (stroke, width) = if intruder {
                    ("#e8590c", 2.2)
                } else {
                    (stroke, 1.2)
                };
                let _ = write!(
                    s,
                    "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/>",
                    y - BAR / 2.0,
                    x1 - x0
                );
            }
            Shape::Point(EventKind::Timer) => {
                let _ = write!(
                    s,
                    "<path d=\"M{x0:.1} {:.1} l6 6 l-6 6 l-6 -6 z\" fill=\"#ffd43b\" stroke=\"#e67700\" stroke-width=\"1.2\"/>",
                    y - 6.0
                );
            }
            Shape::Point(_) => {
                let _ = write!(
                    s,
                    "<circle cx=\"{x0:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"#adb5bd\" stroke=\"#495057\"/>"
                );
            }
        }
        let (lx, anchor) = if item.label_left {
            (x0 - item.gap, "end")
        } else {
            (x1 + item.gap, "start")
        };
        let _ = writeln!(
            s,
            "<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-family=\"{MONO}\" font-size=\"11\" font-weight=\"{label_weight}\" fill=\"{label_colour}\" stroke=\"#ffffff\" stroke-opacity=\"0.85\" stroke-width=\"3\" paint-order=\"stroke\">{}</text></g>",
            y + 4.0,
            xml(&item.label)
        );
    }

    // Markers on top; an item inside a window gets one mark, on its last event.
    let last_in_window: Vec<usize> = items
        .iter()
        .filter_map(|item| {
            item.events
                .iter()
                .rev()
                .find(|&&i| t.events[i].marker == Some(Marker::InWindow))
                .copied()
        })
        .collect();
    for (i, e) in t.events.iter().enumerate() {
        let Some(&(x, y)) = event_pos.get(&i) else {
            continue;
        };
        let (fill, glyph) = match e.marker {
            Some(Marker::CheckPassed) => ("#2b8a3e", "✓"),
            Some(Marker::ActFailed) | Some(Marker::CheckFailed) => ("#c92a2a", "✕"),
            Some(Marker::InWindow) if last_in_window.contains(&i) => ("#e8590c", "!"),
            _ => continue,
        };
        let _ = writeln!(
            s,
            "<g><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"8\" fill=\"{fill}\" stroke=\"#ffffff\" stroke-width=\"1.5\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" font-weight=\"700\" fill=\"#ffffff\">{glyph}</text></g>",
            xml(e.marker.map_or("", |m| m.label())),
            y + 4.0
        );
    }

    if t.events.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#6b7280\">no events recorded</text>",
            WIDTH / 2.0,
            lanes_top + ROW / 2.0
        );
    }

    legend(&mut s, lanes_bottom + 18.0);
    if hidden > 0 {
        let _ = writeln!(
            s,
            "<text x=\"14\" y=\"{:.1}\" font-size=\"11.5\" fill=\"#6b7280\">{hidden} more flows not drawn (only {MAX_LANES} lanes fit; flows in a race window come first)</text>",
            lanes_bottom + LEGEND + 8.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Draws one legend swatch at an x position.
type Swatch = Box<dyn Fn(f64) -> String>;

fn legend(s: &mut String, y: f64) {
    let bar = |fill: &'static str, stroke: &'static str| -> Swatch {
        Box::new(move |x| {
            format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"20\" height=\"10\" rx=\"2\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
                y - 5.0
            )
        })
    };
    let dot = |fill: &'static str, glyph: &'static str| -> Swatch {
        Box::new(move |x| {
            format!(
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"7\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" font-weight=\"700\" fill=\"#ffffff\">{glyph}</text>",
                x + 10.0,
                x + 10.0,
                y + 3.5
            )
        })
    };
    let window: Swatch = Box::new(move |x| {
        format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"20\" height=\"14\" fill=\"#ffa94d\" fill-opacity=\"0.3\" stroke=\"#e8590c\" stroke-dasharray=\"3 2\"/>",
            y - 7.0
        )
    });
    let entries: Vec<(Swatch, &str)> = vec![
        (bar("#d3f9d8", "#2b8a3e"), "completed"),
        (bar("#ffe3e3", "#c92a2a"), "failed"),
        (bar("#fff3bf", "#e67700"), "timer / delay"),
        (bar("#e9ecef", "#868e96"), "no end recorded"),
        (window, "race window"),
        (dot("#2b8a3e", "✓"), "check passed"),
        (dot("#c92a2a", "✕"), "act failed"),
        (dot("#e8590c", "!"), "other flow in the window"),
    ];
    let mut x = 14.0;
    for (shape, label) in entries {
        s.push_str(&shape(x));
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11.5\" fill=\"#4b5563\">{label}</text>",
            x + 26.0,
            y + 4.0
        );
        x += 26.0 + label.chars().count() as f64 * 6.6 + 22.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::build::tests::{event, seed};
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(215.0), 50.0);
        assert_eq!(tick_step(8.0), 1.0);
        assert_eq!(tick_step(1000.0), 200.0);
    }

    #[test]
    fn draws_the_race_window_and_its_markers() {
        let svg = render_svg(&Timeline::from_events(&seed()));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("race window · KEYBOARD-03 · 212 ms"));
        assert!(
            svg.contains("marker-end=\"url(#rb-arrow)\""),
            "arrow from the competitor"
        );
        assert!(svg.contains(">✓</text>") && svg.contains(">✕</text>"));
        assert!(
            !svg.contains("http://") || svg.matches("http://").count() == 1,
            "only the namespace"
        );
    }

    #[test]
    fn many_flows_keep_the_racing_ones_in_view() {
        let mut events = seed();
        for i in 0..20 {
            events.push(event(
                100 + i,
                &format!("bystander-{i:02}"),
                "Browse",
                EventKind::Note,
                "",
                None,
                None,
            ));
        }
        let t = Timeline::from_events(&events);
        let shown = shown_flows(&t);
        assert_eq!(shown.len(), MAX_LANES);
        assert!(shown.contains(&"order-1") && shown.contains(&"competing-1"));
        let svg = render_svg(&t);
        assert!(svg.contains("10 more flows not drawn"));
        assert!(svg.contains("race window · KEYBOARD-03"));
    }

    #[test]
    fn labels_are_escaped() {
        let events = vec![event(
            0,
            "<script>alert(1)</script>",
            "A&B",
            EventKind::Note,
            "\"x\"",
            None,
            None,
        )];
        let svg = render_svg(&Timeline::from_events(&events));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("A&amp;B (&quot;x&quot;)"));
    }
}
