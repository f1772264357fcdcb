//! JUnit XML for CI systems: one `<testsuite>` per datapoint × candidate, one
//! `<testcase>` per weighted test, failing when the test was not fixed (did
//! not pass every counting trial), with its pass rate in the message.

use std::fmt::Write;

use crate::escape::xml;
use crate::summary::{CandidateSummary, Summary, TestSummary};

/// Renders the summary as a JUnit XML document.
pub fn render(summary: &Summary) -> String {
    let mut suites = String::new();
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for dp in &summary.datapoints {
        for c in &dp.candidates {
            let (t, f, s) = suite(&mut suites, &dp.id, c);
            tests += t;
            failures += f;
            skipped += s;
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n{suites}</testsuites>\n",
        xml(&format!("racebench {}", summary.run_id)),
    )
}

/// Appends one suite; returns its (tests, failures, skipped).
fn suite(out: &mut String, datapoint: &str, c: &CandidateSummary) -> (usize, usize, usize) {
    let graded = c.score.is_some();
    let failures = if graded {
        c.tests.iter().filter(|t| !t.fixed).count()
    } else {
        0
    };
    let skipped = if graded { 0 } else { c.tests.len() };
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
        xml(&format!("{datapoint}/{}", c.id)),
        c.tests.len(),
    );
    let _ = writeln!(out, "    <properties>");
    let mut property = |name: &str, value: String| {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml(name),
            xml(&value)
        );
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
    let _ = writeln!(out, "    </properties>");
    for t in &c.tests {
        testcase(out, datapoint, c, t);
    }
    let _ = writeln!(out, "  </testsuite>");
    (c.tests.len(), failures, skipped)
}

fn testcase(out: &mut String, datapoint: &str, c: &CandidateSummary, t: &TestSummary) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\"",
        xml(&t.name),
        xml(&format!("{datapoint}.{}.{}", c.id, t.category)),
    );
    if c.score.is_none() {
        let _ = writeln!(
            out,
            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
            xml(&format!(
                "no trial counted ({} infrastructure errors, {} cancelled, {} not run)",
                c.trials.infra_error, c.trials.cancelled, c.trials.not_run
            ))
        );
        return;
    }
    if t.fixed {
        let _ = writeln!(out, "/>");
        return;
    }
    let message = format!(
        "passed {} of {} trials ({:.0}%, 95% CI {:.0}%-{:.0}%); fixed means passing every trial",
        t.passes,
        t.trials,
        t.pass_rate.unwrap_or(0.0) * 100.0,
        t.interval.low * 100.0,
        t.interval.high * 100.0,
    );
    let mut body = String::new();
    for o in t.outcomes.iter().filter(|o| !o.outcome.is_pass()) {
        let _ = write!(body, "trial {}: {}", o.trial, o.outcome.as_str());
        if let Some(m) = &o.message {
            let _ = write!(body, ": {m}");
        }
        body.push('\n');
    }
    let _ = writeln!(
        out,
        ">\n      <failure message=\"{}\" type=\"not_fixed\">{}</failure>\n    </testcase>",
        xml(&message),
        xml(&body),
    );
}
