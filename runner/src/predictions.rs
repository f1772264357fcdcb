//! Predictions files as SWE-bench writes them: JSON lines with `instance_id`
//! (our datapoint id), `model_name_or_path` and `model_patch`. Several rows
//! for the same datapoint and model are samples of that agent (for pass@k).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use racebench_model::candidate::slug;
use racebench_model::{Candidate, CandidateKind};
use serde::Deserialize;

/// A predictions file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    #[error("failed to read predictions file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{} holds no predictions", path.display())]
    Empty { path: PathBuf },
}

#[derive(Deserialize)]
struct Row {
    instance_id: Option<String>,
    model_name_or_path: Option<String>,
    model_patch: Option<String>,
}

/// One prediction: a candidate for a datapoint and its patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub candidate: Candidate,
    pub patch: String,
}

/// Reads a predictions file. Every row needs `instance_id` and
/// `model_name_or_path`; a missing or null `model_patch` is an empty patch
/// (its trials end as `patch_failed`).
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, PredictionsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PredictionsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_predictions(&text, path)
}

pub fn parse_predictions(text: &str, path: &Path) -> Result<Vec<Prediction>, PredictionsError> {
    let line_err = |line: usize, message: String| PredictionsError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    // (datapoint, agent) -> patches in file order.
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(line)
            .map_err(|e| line_err(n, format!("not a JSON object: {e}")))?;
        let instance = row
            .instance_id
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| line_err(n, "`instance_id` is missing; give the datapoint id".into()))?;
        let agent = row
            .model_name_or_path
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| line_err(n, "`model_name_or_path` is missing; name the agent".into()))?;
        let key = (instance, agent);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups
            .entry(key)
            .or_default()
            .push(row.model_patch.unwrap_or_default());
    }
    if groups.is_empty() {
        return Err(PredictionsError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for key in order {
        let patches = &groups[&key];
        let (datapoint, agent) = key;
        for (sample, patch) in patches.iter().enumerate() {
            let id = if patches.len() == 1 {
                slug(&agent)
            } else {
                format!("{}-s{}", slug(&agent), sample + 1)
            };
            out.push(Prediction {
                candidate: Candidate {
                    id,
                    kind: CandidateKind::Prediction,
                    datapoint: datapoint.clone(),
                    agent: Some(agent.clone()),
                    sample: Some(sample as u32),
                    patch: None,
                    must_fail: Vec::new(),
                },
                patch: patch.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_into_samples_per_agent_and_datapoint() {
        let text = r#"{"instance_id": "dp", "model_name_or_path": "org/model-a", "model_patch": "p1"}
{"instance_id": "dp", "model_name_or_path": "org/model-a", "model_patch": "p2"}

{"instance_id": "dp", "model_name_or_path": "b", "model_patch": null}
"#;
        let preds = parse_predictions(text, Path::new("p.jsonl")).unwrap();
        let ids: Vec<_> = preds
            .iter()
            .map(|p| {
                (
                    p.candidate.id.as_str(),
                    p.candidate.sample,
                    p.patch.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("org-model-a-s1", Some(0), "p1"),
                ("org-model-a-s2", Some(1), "p2"),
                ("b", Some(0), "")
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_missing_field() {
        let err =
            parse_predictions("{\"instance_id\": \"dp\"}\n", Path::new("p.jsonl")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.jsonl:1: `model_name_or_path` is missing; name the agent"
        );
        let err = parse_predictions("\n[1]\n", Path::new("p.jsonl")).unwrap_err();
        assert!(
            err.to_string().starts_with("p.jsonl:2: not a JSON object"),
            "{err}"
        );
        assert!(matches!(
            parse_predictions("\n", Path::new("p.jsonl")),
            Err(PredictionsError::Empty { .. })
        ));
    }
}
