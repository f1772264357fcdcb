//! The rules of `racebench validate`, applied to a graded summary: the
//! reference must pass every weighted test in every counting trial, the
//! unpatched service must fail one in every counting trial, and each decoy
//! must fail a test of each `must_fail` category in every counting trial.
//! Infrastructure errors make a datapoint inconclusive, never passed.

use std::fmt::Write;

use racebench_model::{CandidateKind, Verdict};
use serde::{Deserialize, Serialize};

use super::rates::RatesTable;
use crate::summary::{CandidateSummary, DatapointSummary, Summary};

/// The verdict on one datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    Ok,
    /// Not enough counting trials to say (infrastructure errors, missing candidates).
    Inconclusive,
    /// A rule was broken in a trial that counts.
    Regressed,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Ok => "ok",
            ValidationStatus::Inconclusive => "inconclusive",
            ValidationStatus::Regressed => "regressed",
        }
    }
}

/// One reason a datapoint is not ok.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The candidate at fault (empty when the problem is the datapoint's).
    pub candidate: String,
    pub status: ValidationStatus,
    /// A lowercase sentence saying what happened and in which trials.
    pub reason: String,
}

/// The verdict on one datapoint, with its reasons and its rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatapointValidation {
    pub datapoint: String,
    pub status: ValidationStatus,
    pub findings: Vec<Finding>,
    pub rates: RatesTable,
}

/// The verdict on every datapoint of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub datapoints: Vec<DatapointValidation>,
}

impl ValidationReport {
    /// Whether every datapoint is ok.
    pub fn ok(&self) -> bool {
        self.datapoints
            .iter()
            .all(|d| d.status == ValidationStatus::Ok)
    }

    /// The worst status of any datapoint.
    pub fn status(&self) -> ValidationStatus {
        self.datapoints
            .iter()
            .map(|d| d.status)
            .max()
            .unwrap_or(ValidationStatus::Inconclusive)
    }
}

/// Judges every datapoint of a graded run.
pub fn validate(summary: &Summary) -> ValidationReport {
    ValidationReport {
        datapoints: summary.datapoints.iter().map(judge).collect(),
    }
}

fn trials_list(trials: &[u32]) -> String {
    let list: Vec<String> = trials.iter().map(u32::to_string).collect();
    match list.len() {
        1 => format!("trial {}", list[0]),
        _ => format!("trials {}", list.join(", ")),
    }
}

fn judge(dp: &DatapointSummary) -> DatapointValidation {
    let mut findings = Vec::new();
    for kind in [CandidateKind::Reference, CandidateKind::Unpatched] {
        if dp.first_of(kind).is_none() {
            findings.push(Finding {
                candidate: String::new(),
                status: ValidationStatus::Inconclusive,
                reason: format!("the run has no {kind} candidate for this datapoint"),
            });
        }
    }
    for c in &dp.candidates {
        let rule: fn(&CandidateSummary, &DatapointSummary, &mut Vec<Finding>) = match c.kind {
            CandidateKind::Reference => reference,
            CandidateKind::Unpatched => unpatched,
            CandidateKind::Decoy => decoy,
            CandidateKind::Patch | CandidateKind::Prediction => continue,
        };
        let before = findings.len();
        stopped_early(c, &mut findings);
        if findings.len() == before {
            rule(c, dp, &mut findings);
        }
        if c.trials.infra_error + c.trials.cancelled + c.trials.not_run > 0 || c.trials.counted == 0
        {
            findings.push(Finding {
                candidate: c.id.clone(),
                status: ValidationStatus::Inconclusive,
                reason: format!(
                    "only {} of {} trials counted ({} infrastructure errors, {} cancelled, {} not run)",
                    c.trials.counted,
                    c.trials.planned,
                    c.trials.infra_error,
                    c.trials.cancelled,
                    c.trials.not_run
                ),
            });
        }
    }
    let status = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(ValidationStatus::Ok);
    DatapointValidation {
        datapoint: dp.id.clone(),
        status,
        findings,
        rates: RatesTable::of(dp),
    }
}

/// A baseline whose patch does not apply or whose build fails proves nothing
/// about the tests: that is a broken datapoint, whatever the scores say.
fn stopped_early(c: &CandidateSummary, findings: &mut Vec<Finding>) {
    for (verdict, what) in [
        (Verdict::PatchFailed, "its patch did not apply"),
        (Verdict::BuildFailed, "the build failed"),
    ] {
        let trials: Vec<u32> = c
            .trial_results
            .iter()
            .filter(|t| t.verdict == verdict)
            .map(|t| t.trial)
            .collect();
        if !trials.is_empty() {
            findings.push(Finding {
                candidate: c.id.clone(),
                status: ValidationStatus::Regressed,
                reason: format!("{what} in {}", trials_list(&trials)),
            });
        }
    }
}

fn reference(c: &CandidateSummary, _: &DatapointSummary, findings: &mut Vec<Finding>) {
    // A test the weights do not name is not scored: either it matters and
    // must be weighed, or it is noise in the report (and room for a forged
    // failing test to hide in).
    if !c.unweighted.is_empty() {
        findings.push(Finding {
            candidate: c.id.clone(),
            status: ValidationStatus::Regressed,
            reason: format!(
                "the reference's report has tests the weights file does not name: {}; \
                 add each to a category or remove it from the hidden tests",
                c.unweighted
                    .iter()
                    .map(|t| format!("`{}`", t.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    for t in c.tests.iter().filter(|t| !t.fixed && t.trials > 0) {
        let failed: Vec<u32> = t
            .outcomes
            .iter()
            .filter(|o| !o.outcome.is_pass())
            .map(|o| o.trial)
            .collect();
        findings.push(Finding {
            candidate: c.id.clone(),
            status: ValidationStatus::Regressed,
            reason: format!(
                "the reference did not pass `{}` in {} (it must pass every weighted test in every trial)",
                t.name,
                trials_list(&failed)
            ),
        });
    }
}

fn unpatched(c: &CandidateSummary, _: &DatapointSummary, findings: &mut Vec<Finding>) {
    let clean: Vec<u32> = c
        .counting_trials()
        .filter(|t| t.clean())
        .map(|t| t.trial)
        .collect();
    if !clean.is_empty() {
        findings.push(Finding {
            candidate: c.id.clone(),
            status: ValidationStatus::Regressed,
            reason: format!(
                "the unpatched service passed every weighted test in {}: the bug was not caught",
                trials_list(&clean)
            ),
        });
    }
}

fn decoy(c: &CandidateSummary, dp: &DatapointSummary, findings: &mut Vec<Finding>) {
    if c.must_fail.is_empty() {
        findings.push(Finding {
            candidate: c.id.clone(),
            status: ValidationStatus::Regressed,
            reason: "the decoy names no `must_fail` category".into(),
        });
    }
    for category in &c.must_fail {
        if !dp.categories.iter().any(|k| &k.name == category) {
            findings.push(Finding {
                candidate: c.id.clone(),
                status: ValidationStatus::Regressed,
                reason: format!(
                    "the decoy must fail category `{category}`, which the weights file does not have"
                ),
            });
            continue;
        }
        let tests: Vec<_> = c.tests.iter().filter(|t| &t.category == category).collect();
        let escaped: Vec<u32> = c
            .counting_trials()
            .map(|trial| trial.trial)
            .filter(|&n| {
                tests.iter().all(|t| {
                    t.outcomes
                        .iter()
                        .any(|o| o.trial == n && o.outcome.is_pass())
                })
            })
            .collect();
        if !escaped.is_empty() {
            findings.push(Finding {
                candidate: c.id.clone(),
                status: ValidationStatus::Regressed,
                reason: format!(
                    "the decoy passed every test of `{category}` in {} (it must fail at least one in every trial)",
                    trials_list(&escaped)
                ),
            });
        }
    }
}

/// The report as text for the terminal: one line per datapoint, then its findings.
pub fn render_text(report: &ValidationReport) -> String {
    let mut out = String::new();
    for d in &report.datapoints {
        let _ = writeln!(out, "{}: {}", d.datapoint, d.status.as_str());
        for f in &d.findings {
            let who = if f.candidate.is_empty() {
                String::new()
            } else {
                format!("{}: ", f.candidate)
            };
            let _ = writeln!(out, "  {} {who}{}", f.status.as_str(), f.reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{
        CategoryInfo, Score, TestOutcome, TestSummary, TrialCounts, TrialOutcome, TrialSummary,
    };
    use crate::wilson::Interval;

    /// A candidate with tests `race` (category Race) and `basic` (Basics);
    /// `outcomes[trial]` gives (race passed, basic passed), `None` = infra error.
    fn cand(id: &str, kind: CandidateKind, outcomes: &[Option<(bool, bool)>]) -> CandidateSummary {
        let mut trial_results = Vec::new();
        let mut race = Vec::new();
        let mut basic = Vec::new();
        for (i, o) in outcomes.iter().enumerate() {
            let trial = i as u32 + 1;
            let outcome = |p: bool| TrialOutcome {
                trial,
                outcome: if p {
                    TestOutcome::Passed
                } else {
                    TestOutcome::Failed
                },
                message: None,
            };
            match o {
                Some((r, b)) => {
                    race.push(outcome(*r));
                    basic.push(outcome(*b));
                    trial_results.push(TrialSummary {
                        trial,
                        verdict: Verdict::Tested,
                        counts: true,
                        passed: u32::from(*r) + u32::from(*b),
                        tests: 2,
                        score: None,
                        error: None,
                        has_events: false,
                        notes: vec![],
                    });
                }
                None => trial_results.push(TrialSummary {
                    trial,
                    verdict: Verdict::InfraError,
                    counts: false,
                    passed: 0,
                    tests: 2,
                    score: None,
                    error: None,
                    has_events: false,
                    notes: vec![],
                }),
            }
        }
        let test = |name: &str, category: &str, outcomes: Vec<TrialOutcome>| {
            let passes = outcomes.iter().filter(|o| o.outcome.is_pass()).count() as u32;
            let n = outcomes.len() as u32;
            TestSummary {
                name: name.into(),
                category: category.into(),
                weight: 0.5,
                passes,
                trials: n,
                pass_rate: None,
                interval: Interval::wilson(passes, n),
                fixed: n > 0 && passes == n,
                outcomes,
            }
        };
        let counted = race.len() as u32;
        CandidateSummary {
            id: id.into(),
            kind,
            agent: None,
            sample: None,
            patch: None,
            must_fail: if kind == CandidateKind::Decoy {
                vec!["Race".into()]
            } else {
                vec![]
            },
            trials: TrialCounts {
                planned: outcomes.len() as u32,
                counted,
                infra_error: outcomes.len() as u32 - counted,
                ..TrialCounts::default()
            },
            trial_results,
            tests: vec![test("race", "Race", race), test("basic", "Basics", basic)],
            categories: vec![],
            score: (counted > 0).then_some(Score {
                strict: 0.0,
                lenient: 0.0,
                interval: Interval::UNKNOWN,
                solved: false,
                clean_trials: 0,
            }),
            unweighted: vec![],
        }
    }

    fn dp(candidates: Vec<CandidateSummary>) -> DatapointSummary {
        DatapointSummary {
            id: "demo".into(),
            categories: vec![
                CategoryInfo {
                    name: "Race".into(),
                    weight: 0.5,
                    description: String::new(),
                    tests: vec!["race".into()],
                },
                CategoryInfo {
                    name: "Basics".into(),
                    weight: 0.5,
                    description: String::new(),
                    tests: vec!["basic".into()],
                },
            ],
            candidates,
        }
    }

    const PASS: Option<(bool, bool)> = Some((true, true));
    const CAUGHT: Option<(bool, bool)> = Some((false, true));
    const INFRA: Option<(bool, bool)> = None;

    fn honest() -> Vec<CandidateSummary> {
        vec![
            cand("reference", CandidateKind::Reference, &[PASS, PASS]),
            cand("unpatched", CandidateKind::Unpatched, &[CAUGHT, CAUGHT]),
            cand("decoy-a", CandidateKind::Decoy, &[CAUGHT, CAUGHT]),
        ]
    }

    #[test]
    fn an_honest_datapoint_is_ok() {
        let v = judge(&dp(honest()));
        assert_eq!(v.status, ValidationStatus::Ok, "{:?}", v.findings);
    }

    #[test]
    fn a_flaky_reference_is_a_regression_naming_test_and_trial() {
        let mut c = honest();
        c[0] = cand("reference", CandidateKind::Reference, &[PASS, CAUGHT]);
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Regressed);
        assert!(
            v.findings[0].reason.contains("`race` in trial 2"),
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn a_reference_report_with_unweighted_tests_is_a_regression() {
        let mut c = honest();
        c[0].unweighted = vec![crate::summary::UnweightedTest {
            name: "test_extra".into(),
            seen: 2,
            passes: 2,
        }];
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Regressed);
        assert!(
            v.findings[0].reason.contains("`test_extra`"),
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn an_unpatched_trial_that_passes_everything_is_a_regression() {
        let mut c = honest();
        c[1] = cand("unpatched", CandidateKind::Unpatched, &[CAUGHT, PASS]);
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Regressed);
        assert!(v.findings[0].reason.contains("bug was not caught"));
    }

    #[test]
    fn a_decoy_must_fail_its_category_in_every_trial() {
        let mut c = honest();
        // Fails only Basics in trial 2: not the category it must fail.
        c[2] = cand(
            "decoy-a",
            CandidateKind::Decoy,
            &[CAUGHT, Some((true, false))],
        );
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Regressed);
        assert!(
            v.findings[0].reason.contains("`Race` in trial 2"),
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn a_decoy_naming_an_unknown_category_is_a_regression() {
        let mut c = honest();
        c[2].must_fail = vec!["Nope".into()];
        assert_eq!(judge(&dp(c)).status, ValidationStatus::Regressed);
    }

    #[test]
    fn infrastructure_errors_make_it_inconclusive_not_ok() {
        let mut c = honest();
        c[0] = cand("reference", CandidateKind::Reference, &[PASS, INFRA]);
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Inconclusive);
        assert!(v.findings[0].reason.contains("1 infrastructure errors"));
    }

    #[test]
    fn a_regression_outranks_an_infrastructure_error() {
        let mut c = honest();
        c[0] = cand("reference", CandidateKind::Reference, &[CAUGHT, INFRA]);
        assert_eq!(judge(&dp(c)).status, ValidationStatus::Regressed);
    }

    #[test]
    fn a_missing_reference_is_inconclusive() {
        let mut c = honest();
        c.remove(0);
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Inconclusive);
        assert!(v.findings[0].reason.contains("no reference candidate"));
    }

    #[test]
    fn a_reference_whose_patch_does_not_apply_is_a_regression() {
        let mut c = honest();
        c[0].trial_results[0].verdict = Verdict::PatchFailed;
        let v = judge(&dp(c));
        assert_eq!(v.status, ValidationStatus::Regressed);
        assert!(v.findings[0].reason.contains("did not apply in trial 1"));
    }
}
