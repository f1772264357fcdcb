//! Timelines of a trial's events: when each flow checked and acted, and the
//! race window between a check that passed and an act that then failed.

mod build;
mod choose;
mod events_file;
mod svg;
mod text;

pub use build::{to_json, Marker, RaceWindow, Timeline, TimelineEvent, TIMELINE_FORMAT};
pub use choose::{choose_trial, TrialRef};
pub use events_file::{load_trial_events, TimelineError, TrialEvents};
pub use svg::render_svg;
pub(crate) use text::describe;
pub use text::{format_ms, render_text};
