//! How numbers, verdicts and outcomes look in the report: two-decimal scores,
//! whole percentages, durations, tokens and dollars, and the CSS classes and
//! symbols of each state.

use racebench_model::{AgentEnd, Verdict};

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

/// A duration: `850 ms`, `12.3 s`, `4 min 05 s`.
pub(crate) fn duration_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A count with thousands separated: `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A cost in US dollars: four decimals under a dollar, two above.
pub(crate) fn usd(value: f64) -> String {
    if value.abs() < 1.0 {
        format!("${value:.4}")
    } else {
        format!("${value:.2}")
    }
}

/// CSS class and words for how an agent's sample ended.
pub(crate) fn agent_end(end: AgentEnd, exit_code: Option<i64>) -> (&'static str, String) {
    match end {
        AgentEnd::Exited => (
            if exit_code == Some(0) {
                "v-pass"
            } else {
                "v-fail"
            },
            match exit_code {
                Some(code) => format!("the agent exited with status {code}"),
                None => "the agent exited without a status".into(),
            },
        ),
        AgentEnd::TimedOut => (
            "v-timeout",
            "the agent ran past its time limit and was stopped".into(),
        ),
        AgentEnd::SetupFailed => (
            "v-build",
            match exit_code {
                Some(code) => format!("the agent's setup step failed (status {code})"),
                None => "the agent's setup step failed".into(),
            },
        ),
        AgentEnd::InfraError => (
            "v-infra",
            "the sandbox could not be made: not graded".into(),
        ),
        AgentEnd::Cancelled => (
            "v-infra",
            "the run was interrupted while the agent ran".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_numbers_read_well() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4 min 05 s");
        assert_eq!(count(0), "0");
        assert_eq!(count(1200), "1,200");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(usd(0.0123), "$0.0123");
        assert_eq!(usd(12.5), "$12.50");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(score(0.7), "0.70");
        assert_eq!(opt_score(None), "–");
        assert_eq!(percent(2.0 / 3.0), "67%");
        assert_eq!(css_pct(1.2), "100.0");
        assert_eq!(interval_pct(Interval::wilson(3, 3)), "44–100%");
    }
}
