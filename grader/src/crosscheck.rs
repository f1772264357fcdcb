//! Reconciling a test report with what is known independently: the exit code
//! of the test step and the weighted test names. Passes that the exit code
//! contradicts do not count, and weighted tests the report lacks are missing.

use racebench_model::{Outcome, TestRecord, Weights};

/// A trial's weighted tests as they count, and the disagreements found: the
/// report as the runner read it (`tests`), reconciled with the exit code of
/// the test step and with the weights. Pure, so a results folder can be
/// graded again under other rules or weights.
pub fn reconcile(
    tests: &[TestRecord],
    weights: &Weights,
    exit_code: Option<i64>,
) -> (Vec<TestRecord>, Vec<String>) {
    let mut notes = Vec::new();
    let mut records: Vec<TestRecord> = Vec::new();
    for record in tests.iter().cloned() {
        match records.iter_mut().find(|r| r.name == record.name) {
            // A test reported twice (reruns, duplicate names): keep the worse.
            Some(existing) => {
                if severity(record.outcome) > severity(existing.outcome) {
                    *existing = record;
                }
            }
            None => records.push(record),
        }
    }

    // A non-zero exit is explained only by a failing test that counts: with
    // weights, one they name (a made-up failing test in a forged report
    // explains nothing).
    let counts = |r: &TestRecord| weights.categories.iter().any(|c| c.tests.contains(&r.name));
    let failed_in_report = records
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed | Outcome::Error) && counts(r));
    match exit_code {
        Some(code) if code != 0 && !failed_in_report && !records.is_empty() => {
            let why = format!(
                "the test step exited with {code} but its report shows no failing test that counts; its passes are not trusted"
            );
            for record in records.iter_mut().filter(|r| r.outcome == Outcome::Passed) {
                record.outcome = Outcome::Error;
                record.message = Some(why.clone());
            }
            notes.push(why);
        }
        Some(0) if failed_in_report => notes.push(
            "the test step exited with 0 although its report shows failures; the failures count"
                .to_string(),
        ),
        _ => {}
    }

    let mut ordered = Vec::with_capacity(records.len());
    for category in &weights.categories {
        for test in &category.tests {
            let mut record = match records.iter().position(|r| &r.name == test) {
                Some(i) => records.remove(i),
                None => TestRecord {
                    name: test.clone(),
                    classname: None,
                    category: None,
                    outcome: Outcome::Missing,
                    duration_ms: None,
                    message: Some("not in the test report".to_string()),
                },
            };
            record.category = Some(category.name.clone());
            ordered.push(record);
        }
    }
    // Unweighted tests are kept (without a category) so they can be shown.
    ordered.extend(records);
    (ordered, notes)
}

fn severity(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Passed => 0,
        Outcome::Skipped => 1,
        Outcome::Missing => 2,
        Outcome::Error => 3,
        Outcome::Failed => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn weights() -> Weights {
        Weights::parse(
            r#"format = 1
datapoint = "demo"
[[category]]
name = "Race"
weight = 0.5
tests = ["test_race"]
[[category]]
name = "Basic"
weight = 0.5
tests = ["test_basic"]
"#,
            Path::new("demo.toml"),
        )
        .unwrap()
    }

    fn record(name: &str, outcome: Outcome) -> TestRecord {
        TestRecord {
            name: name.into(),
            classname: None,
            category: None,
            outcome,
            duration_ms: None,
            message: None,
        }
    }

    #[test]
    fn passes_contradicted_by_the_exit_code_do_not_count() {
        let report = vec![
            record("test_race", Outcome::Passed),
            record("test_basic", Outcome::Passed),
        ];
        let (records, notes) = reconcile(&report, &weights(), Some(1));
        assert!(records.iter().all(|r| r.outcome == Outcome::Error));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn weighted_tests_absent_from_the_report_are_missing_and_categorised() {
        let report = vec![
            record("test_basic", Outcome::Passed),
            record("test_extra", Outcome::Failed),
        ];
        let (records, _) = reconcile(&report, &weights(), Some(1));
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.name.as_str(), r.outcome, r.category.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("test_race", Outcome::Missing, Some("Race")),
                ("test_basic", Outcome::Error, Some("Basic")),
                ("test_extra", Outcome::Failed, None),
            ]
        );
    }

    /// Regression: a forged report listing every weighted test as passed plus
    /// one made-up failing test "explained" the test step's non-zero exit, so
    /// every weighted test counted as passed.
    #[test]
    fn a_made_up_failing_test_does_not_explain_a_failing_exit() {
        let report = vec![
            record("test_race", Outcome::Passed),
            record("test_basic", Outcome::Passed),
            record("test_made_up", Outcome::Failed),
        ];
        let (records, notes) = reconcile(&report, &weights(), Some(1));
        let weighted: Vec<_> = records.iter().filter(|r| r.category.is_some()).collect();
        assert!(
            weighted.iter().all(|r| r.outcome == Outcome::Error),
            "{records:?}"
        );
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn no_report_means_every_weighted_test_is_missing() {
        let (records, notes) = reconcile(&[], &weights(), Some(0));
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.outcome == Outcome::Missing));
        assert!(notes.is_empty());
    }

    #[test]
    fn duplicate_names_keep_the_worse_outcome() {
        let report = vec![
            record("test_race", Outcome::Passed),
            record("test_race", Outcome::Failed),
        ];
        let (records, _) = reconcile(&report, &weights(), Some(1));
        let race: Vec<_> = records.iter().filter(|r| r.name == "test_race").collect();
        assert_eq!(race.len(), 1);
        assert_eq!(race[0].outcome, Outcome::Failed);
    }
}
