//! Calibration of a datapoint's tests (`racebench calibrate`): per weighted
//! test, how often it catches the bug (fails on the unpatched service) and
//! how often it wrongly fails the reference fix, with Wilson intervals.

use std::fmt::Write;

use racebench_model::CandidateKind;
use serde::{Deserialize, Serialize};

use crate::summary::{CandidateSummary, DatapointSummary, Summary};
use crate::wilson::Interval;

/// A count of events among trials, with its rate and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub count: u32,
    pub trials: u32,
    /// count / trials; `None` without trials.
    pub rate: Option<f64>,
    pub interval: Interval,
}

impl Measured {
    pub fn new(count: u32, trials: u32) -> Measured {
        Measured {
            count,
            trials,
            rate: (trials > 0).then(|| f64::from(count) / f64::from(trials)),
            interval: Interval::wilson(count, trials),
        }
    }

    fn cell(&self) -> String {
        match self.rate {
            None => "–".into(),
            Some(rate) => format!(
                "{}/{} ({:.0}%, {:.0}–{:.0}%)",
                self.count,
                self.trials,
                rate * 100.0,
                self.interval.low * 100.0,
                self.interval.high * 100.0
            ),
        }
    }
}

/// One weighted test's calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCalibration {
    pub test: String,
    pub category: String,
    pub weight: f64,
    /// Counting trials of the unpatched service in which the test did not pass.
    pub catches: Measured,
    /// Counting trials of the reference in which the test did not pass.
    pub false_failures: Measured,
}

/// The calibration of one datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub datapoint: String,
    /// Counting trials of the unpatched service in which some weighted test failed.
    pub caught: Measured,
    /// Counting trials of the reference in which some weighted test failed.
    pub reference_failed: Measured,
    pub tests: Vec<TestCalibration>,
}

/// Calibrates every datapoint of a graded run from its reference and unpatched candidates.
pub fn calibrate(summary: &Summary) -> Vec<Calibration> {
    summary.datapoints.iter().map(calibrate_datapoint).collect()
}

fn failures(c: Option<&CandidateSummary>, test: &str) -> Measured {
    match c.and_then(|c| c.test(test)) {
        Some(t) => Measured::new(t.trials - t.passes, t.trials),
        None => Measured::new(0, 0),
    }
}

fn any_failure(c: Option<&CandidateSummary>) -> Measured {
    match c {
        Some(c) => {
            let counted = c.trials.counted;
            let clean = c.score.map_or(0, |s| s.clean_trials);
            Measured::new(counted - clean, counted)
        }
        None => Measured::new(0, 0),
    }
}

pub fn calibrate_datapoint(dp: &DatapointSummary) -> Calibration {
    let reference = dp.first_of(CandidateKind::Reference);
    let unpatched = dp.first_of(CandidateKind::Unpatched);
    let tests = dp
        .categories
        .iter()
        .flat_map(|k| k.tests.iter().map(move |t| (k, t)))
        .map(|(k, test)| TestCalibration {
            test: test.clone(),
            category: k.name.clone(),
            weight: k.weight / k.tests.len() as f64,
            catches: failures(unpatched, test),
            false_failures: failures(reference, test),
        })
        .collect();
    Calibration {
        datapoint: dp.id.clone(),
        caught: any_failure(unpatched),
        reference_failed: any_failure(reference),
        tests,
    }
}

impl Calibration {
    /// The calibration as a markdown table, with a one-line verdict under it.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| test | category | weight | catches the bug (unpatched fails) | wrongly fails the reference |\n| --- | --- | ---: | ---: | ---: |\n",
        );
        for t in &self.tests {
            let _ = writeln!(
                out,
                "| `{}` | {} | {:.3} | {} | {} |",
                t.test.replace('|', "\\|"),
                t.category.replace('|', "\\|"),
                t.weight,
                t.catches.cell(),
                t.false_failures.cell()
            );
        }
        let _ = writeln!(
            out,
            "| **any weighted test** | | | {} | {} |",
            self.caught.cell(),
            self.reference_failed.cell()
        );
        let _ = writeln!(
            out,
            "\nIntervals are Wilson 95%. A good test catches the bug often and never fails the reference."
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_rates_carry_wilson_intervals() {
        let m = Measured::new(0, 10);
        assert_eq!(m.rate, Some(0.0));
        assert!((m.interval.high - 0.2775).abs() < 1e-4);
        assert_eq!(Measured::new(0, 0).rate, None);
        assert_eq!(Measured::new(3, 4).cell(), "3/4 (75%, 30–95%)");
    }
}
