//! A candidate: one patch (or none) tried against one datapoint, such as the
//! reference fix, the unpatched bug, a decoy, a user's patch file or one
//! agent's prediction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a candidate's patch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// The datapoint's reference fix: must pass every test in every trial.
    Reference,
    /// No patch at all: the bug must be caught.
    Unpatched,
    /// A known-wrong fix: must fail its declared categories.
    Decoy,
    /// A patch file given on the command line.
    Patch,
    /// A row of a predictions file (an agent's answer).
    Prediction,
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CandidateKind::Reference => "reference",
            CandidateKind::Unpatched => "unpatched",
            CandidateKind::Decoy => "decoy",
            CandidateKind::Patch => "patch",
            CandidateKind::Prediction => "prediction",
        })
    }
}

/// One candidate for one datapoint, as recorded in `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Unique within the datapoint; safe as a path component.
    pub id: String,
    pub kind: CandidateKind,
    pub datapoint: String,
    /// The agent (model_name_or_path) for predictions; groups samples for pass@k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Which sample of the agent for this datapoint (0-based), for pass@k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// The stored patch, relative to the run folder; none for `unpatched`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// For decoys: the categories they must fail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_fail: Vec<String>,
}

/// Turns any label (a model name with slashes, a file stem) into a path-safe id.
pub fn slug(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    if out.is_empty() {
        "candidate".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_path_safe() {
        assert_eq!(slug("openai/gpt-5 (high)"), "openai-gpt-5-high");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("///"), "candidate");
    }
}
