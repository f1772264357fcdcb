//! How numbers, verdicts and outcomes look in the report: two-decimal scores,
//! whole percentages, and the CSS classes and symbols of each state.

use racebench_model::Verdict;

use crate::summary::{TestOutcome, TrialSummary};
use crate::wilson::Interval;

/// The name serde gives a unit enum value (`completed`, `check_passed`).
pub(crate) fn name_of<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A score out of 1 with two decimals.
pub(crate) fn score(value: f64) -> String {
    format!("{value:.2}")
}

pub(crate) fn opt_score(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), score)
}

/// A proportion as a whole percentage: `67%`.
pub(crate) fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

/// A proportion as a CSS percentage number with one decimal: `66.7`.
pub(crate) fn css_pct(value: f64) -> String {
    format!("{:.1}", (value * 100.0).clamp(0.0, 100.0))
}

/// An interval as scores: `0.44–1.00`.
pub(crate) fn interval(i: Interval) -> String {
    format!("{:.2}–{:.2}", i.low, i.high)
}

/// An interval as percentages: `44–100%`.
pub(crate) fn interval_pct(i: Interval) -> String {
    format!("{:.0}–{:.0}%", i.low * 100.0, i.high * 100.0)
}

/// CSS class, one-character symbol and words for a trial's verdict.
pub(crate) fn verdict(t: &TrialSummary) -> (&'static str, &'static str, String) {
    match t.verdict {
        Verdict::Tested if t.clean() => ("v-pass", "✓", "passed every weighted test".into()),
        Verdict::Tested => (
            "v-fail",
            "✕",
            format!("passed {} of {} weighted tests", t.passed, t.tests),
        ),
        Verdict::PatchFailed => ("v-patch", "P", "the patch did not apply".into()),
        Verdict::BuildFailed => ("v-build", "B", "the build failed".into()),
        Verdict::TimedOut => ("v-timeout", "T", "the tests ran out of time".into()),
        Verdict::InfraError => ("v-infra", "I", "infrastructure error: not counted".into()),
        Verdict::Cancelled => ("v-infra", "C", "cancelled: not run".into()),
    }
}

/// CSS class and symbol of a test's outcome in one trial.
pub(crate) fn outcome(o: TestOutcome) -> (&'static str, &'static str) {
    match o {
        TestOutcome::Passed => ("o-pass", "✓"),
        TestOutcome::Failed => ("o-fail", "✕"),
        TestOutcome::Error => ("o-fail", "!"),
        TestOutcome::Skipped => ("o-fail", "s"),
        TestOutcome::Missing => ("o-fail", "?"),
        TestOutcome::PatchFailed => ("o-stop", "P"),
        TestOutcome::BuildFailed => ("o-stop", "B"),
        TestOutcome::TimedOut => ("o-stop", "T"),
        TestOutcome::Protected => ("o-stop", "X"),
    }
}

/// Words for an outcome, for tooltips.
pub(crate) fn outcome_words(o: TestOutcome) -> &'static str {
    match o {
        TestOutcome::Passed => "passed",
        TestOutcome::Failed => "failed",
        TestOutcome::Error => "errored",
        TestOutcome::Skipped => "skipped (counts as not passed)",
        TestOutcome::Missing => "missing from the report (counts as failed)",
        TestOutcome::PatchFailed => "not run: the patch did not apply",
        TestOutcome::BuildFailed => "not run: the build failed",
        TestOutcome::TimedOut => "the tests ran out of time",
        TestOutcome::Protected => "failed: the patch changes a protected path",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(score(0.7), "0.70");
        assert_eq!(opt_score(None), "–");
        assert_eq!(percent(2.0 / 3.0), "67%");
        assert_eq!(css_pct(1.2), "100.0");
        assert_eq!(interval_pct(Interval::wilson(3, 3)), "44–100%");
    }
}
