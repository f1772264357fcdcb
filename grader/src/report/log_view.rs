//! A log as the report shows it: its name, its path in the results folder,
//! the part of it that is shown, and a note saying what was left out. The
//! text stays text: the templates escape it.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct LogView {
    pub name: String,
    pub path: String,
    pub text: String,
    pub note: Option<String>,
}
