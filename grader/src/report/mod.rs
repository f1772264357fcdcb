//! The static HTML report: a leaderboard, a page per datapoint, a timeline
//! page per candidate with events, a page per failing trial and a page per
//! agent sample, rendered from tera templates (embedded, overridable by a
//! folder) with every dynamic string escaped. No scripts and no external
//! URLs: it opens from disk.

mod agent_page;
mod datapoint_page;
mod diff_lines;
mod display;
mod error;
mod index_page;
mod log_view;
mod options;
mod page;
mod site;
mod templates;
mod timeline_page;
mod trial_page;
mod trial_strip;

pub use error::ReportError;
pub use options::{ReportFiles, ReportOptions};
pub use site::write;
pub use templates::{Templates, TEMPLATE_NAMES};
