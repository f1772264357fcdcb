//! The event stream of `go test -json` (one JSON object per line, with
//! `Action` run/pass/fail/skip/output), folded into per-test records.

use std::collections::BTreeMap;

use racebench_model::{Outcome, TestRecord};
use serde::Deserialize;

use super::{clip, ReportError};

const MESSAGE_MAX: usize = 2000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GoEvent {
    action: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    elapsed: Option<f64>,
    #[serde(default)]
    output: Option<String>,
}

/// Parses `go test -json` output; lines that are not JSON (build errors
/// printed by the go tool) are ignored.
pub fn parse_go_test_json(text: &str) -> Result<Vec<TestRecord>, ReportError> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut records: BTreeMap<(String, String), TestRecord> = BTreeMap::new();
    let mut output: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut any = false;
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<GoEvent>(line.trim()) else {
            continue;
        };
        any = true;
        let Some(test) = event.test else { continue };
        let key = (event.package.unwrap_or_default(), test.clone());
        let record = records.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            TestRecord {
                name: test,
                classname: Some(key.0.clone()).filter(|p| !p.is_empty()),
                category: None,
                // A test that never reports pass/fail/skip was cut off (panic, timeout).
                outcome: Outcome::Error,
                duration_ms: None,
                message: None,
            }
        });
        match event.action.as_str() {
            "pass" => record.outcome = Outcome::Passed,
            "fail" => record.outcome = Outcome::Failed,
            "skip" => record.outcome = Outcome::Skipped,
            "output" => {
                if let Some(out) = event.output {
                    output.entry(key.clone()).or_default().push_str(&out);
                }
                continue;
            }
            _ => continue,
        }
        if let Some(elapsed) = event.elapsed.filter(|e| e.is_finite() && *e >= 0.0) {
            record.duration_ms = Some((elapsed * 1000.0).round() as u64);
        }
    }
    if !any {
        return Err(ReportError::Empty);
    }
    Ok(order
        .into_iter()
        .filter_map(|key| {
            let mut record = records.remove(&key)?;
            if record.outcome != Outcome::Passed {
                let lines: Vec<&str> = output
                    .get(&key)
                    .map(|o| {
                        o.lines()
                            .filter(|l| {
                                let t = l.trim_start();
                                !t.starts_with("=== ") && !t.starts_with("--- ")
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                if !tail.trim().is_empty() {
                    record.message = Some(clip(&tail, MESSAGE_MAX));
                } else if record.outcome == Outcome::Error {
                    record.message = Some("the test started but never finished".to_string());
                }
            }
            Some(record)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = r#"{"Time":"2026-01-01T00:00:00Z","Action":"start","Package":"inv"}
{"Action":"run","Package":"inv","Test":"TestLostUpdates"}
{"Action":"output","Package":"inv","Test":"TestLostUpdates","Output":"=== RUN   TestLostUpdates\n"}
{"Action":"output","Package":"inv","Test":"TestLostUpdates","Output":"    inv_test.go:42: lost updates: expected 126, got 98\n"}
{"Action":"output","Package":"inv","Test":"TestLostUpdates","Output":"--- FAIL: TestLostUpdates (1.20s)\n"}
{"Action":"fail","Package":"inv","Test":"TestLostUpdates","Elapsed":1.2}
{"Action":"run","Package":"inv","Test":"TestOrdering"}
{"Action":"pass","Package":"inv","Test":"TestOrdering","Elapsed":0.01}
{"Action":"run","Package":"inv","Test":"TestOrdering/sub"}
{"Action":"skip","Package":"inv","Test":"TestOrdering/sub","Elapsed":0}
{"Action":"run","Package":"inv","Test":"TestHangs"}
not json: panic: test timed out after 30s
{"Action":"fail","Package":"inv","Elapsed":30.5}
"#;

    #[test]
    fn folds_events_into_records() {
        let records = parse_go_test_json(STREAM).unwrap();
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.name.as_str(), r.outcome))
            .collect();
        assert_eq!(
            summary,
            [
                ("TestLostUpdates", Outcome::Failed),
                ("TestOrdering", Outcome::Passed),
                ("TestOrdering/sub", Outcome::Skipped),
                ("TestHangs", Outcome::Error),
            ]
        );
        assert_eq!(records[0].duration_ms, Some(1200));
        assert_eq!(
            records[0].message.as_deref(),
            Some("inv_test.go:42: lost updates: expected 126, got 98")
        );
        assert_eq!(
            records[3].message.as_deref(),
            Some("the test started but never finished")
        );
    }

    #[test]
    fn no_events_at_all_is_empty() {
        assert!(matches!(
            parse_go_test_json("# inv\n./main.go:3: undefined: x\n"),
            Err(ReportError::Empty)
        ));
    }
}
