//! The static HTML report: a leaderboard, a page per datapoint, a timeline
//! page per candidate with events and a page per failing trial, rendered from
//! tera templates (embedded, overridable by a folder) with every dynamic
//! string escaped. No scripts and no external URLs: it opens from disk.

mod datapoint_page;
mod display;
mod error;
mod index_page;
mod options;
mod page;
mod site;
mod templates;
mod timeline_page;
mod trial_page;

pub use error::ReportError;
pub use options::{ReportFiles, ReportOptions};
pub use site::write;
pub use templates::{Templates, TEMPLATE_NAMES};
