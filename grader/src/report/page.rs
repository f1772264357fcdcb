//! What every page shares: the run in the header, the datapoint navigation,
//! the stylesheet and the relative path back to the report's root.

use serde::Serialize;

use super::display::name_of;
use crate::summary::Summary;

/// The run, as the header of every page shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunHeader {
    pub run_id: String,
    pub status: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub trials: u32,
    pub racebench_version: String,
    pub grader_version: String,
}

impl RunHeader {
    pub fn of(summary: &Summary) -> RunHeader {
        RunHeader {
            run_id: summary.run_id.clone(),
            status: name_of(summary.status),
            created_at: summary.created_at.clone(),
            finished_at: summary.finished_at.clone(),
            trials: summary.trials_per_candidate,
            racebench_version: summary.racebench_version.clone(),
            grader_version: summary.grader_version.clone(),
        }
    }
}

/// A link in the navigation bar.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NavLink {
    pub id: String,
    /// Relative to the report's root.
    pub href: String,
}

/// The context of one page: shared parts plus the page's own view.
#[derive(Debug, Serialize)]
pub(crate) struct Page<'a, T: Serialize> {
    pub title: String,
    /// `""`, `"../"`, ...: prefix of links to the report's root.
    pub root: &'a str,
    pub css: &'a str,
    pub run: &'a RunHeader,
    pub nav: &'a [NavLink],
    /// The datapoint the page is about, for the navigation.
    pub current: String,
    pub page: T,
}

/// Where each page lives, relative to the report's root.
pub(crate) fn datapoint_href(datapoint: &str) -> String {
    format!("datapoints/{datapoint}.html")
}

pub(crate) fn candidate_anchor(candidate: &str) -> String {
    format!("c-{candidate}")
}

pub(crate) fn trial_href(datapoint: &str, candidate: &str, trial: u32) -> String {
    format!("trials/{datapoint}/{candidate}/{trial:03}.html")
}

pub(crate) fn timeline_href(datapoint: &str, candidate: &str) -> String {
    format!("timelines/{datapoint}/{candidate}.html")
}

pub(crate) fn agent_href(datapoint: &str, candidate: &str) -> String {
    format!("agents/{datapoint}/{candidate}.html")
}
