//! JUnit XML for CI systems: one `<testsuite>` per datapoint × candidate, one
//! `<testcase>` per weighted test, failing when the test was not fixed (did
//! not pass every counting trial), with its pass rate in the message.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::summary::{CandidateSummary, Summary, TestSummary};

/// Renders the summary as a JUnit XML document (written by `quick-junit`).
pub fn render(summary: &Summary) -> String {
    let mut report = Report::new(format!("racebench {}", summary.run_id));
    for dp in &summary.datapoints {
        for c in &dp.candidates {
            report.add_test_suite(suite(&dp.id, c));
        }
    }
    report
        .to_string()
        .expect("a report of plain strings always serializes")
}

fn suite(datapoint: &str, c: &CandidateSummary) -> TestSuite {
    let mut suite = TestSuite::new(format!("{datapoint}/{}", c.id));
    let mut property = |name: &str, value: String| {
        suite.add_property(Property::new(name, value));
    };
    property("candidate.kind", c.kind.to_string());
    if let Some(agent) = &c.agent {
        property("candidate.agent", agent.clone());
    }
    if let Some(score) = &c.score {
        property("score.strict", format!("{:.4}", score.strict));
        property("score.lenient", format!("{:.4}", score.lenient));
        property(
            "score.interval",
            format!("{:.4}-{:.4}", score.interval.low, score.interval.high),
        );
    }
    property("trials.counted", c.trials.counted.to_string());
    property("trials.infra_error", c.trials.infra_error.to_string());
    property(
        "trials.patch_failed",
        c.trials.verdicts.patch_failed.to_string(),
    );
    property(
        "trials.build_failed",
        c.trials.verdicts.build_failed.to_string(),
    );
    property("trials.timed_out", c.trials.verdicts.timed_out.to_string());
    for t in &c.tests {
        suite.add_test_case(testcase(datapoint, c, t));
    }
    suite
}

fn testcase(datapoint: &str, c: &CandidateSummary, t: &TestSummary) -> TestCase {
    let status = if c.score.is_none() {
        let mut status = TestCaseStatus::skipped();
        status.set_message(format!(
            "no trial counted ({} infrastructure errors, {} cancelled, {} not run)",
            c.trials.infra_error, c.trials.cancelled, c.trials.not_run
        ));
        status
    } else if t.fixed {
        TestCaseStatus::success()
    } else {
        let mut body = String::new();
        for o in t.outcomes.iter().filter(|o| !o.outcome.is_pass()) {
            body.push_str(&format!("trial {}: {}", o.trial, o.outcome.as_str()));
            if let Some(m) = &o.message {
                body.push_str(&format!(": {m}"));
            }
            body.push('\n');
        }
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(format!(
                "passed {} of {} trials ({:.0}%, 95% CI {:.0}%-{:.0}%); fixed means passing every trial",
                t.passes,
                t.trials,
                t.pass_rate.unwrap_or(0.0) * 100.0,
                t.interval.low * 100.0,
                t.interval.high * 100.0,
            ))
            .set_type("not_fixed")
            .set_description(body);
        status
    };
    let mut case = TestCase::new(t.name.clone(), status);
    case.set_classname(format!("{datapoint}.{}.{}", c.id, t.category));
    case
}
