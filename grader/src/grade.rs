//! Grading: from the trial records of a run and the weights of its
//! datapoints to a [`Summary`]. Pure: no files, no clocks. The formulas are
//! explained in `docs/scoring.md`.

use std::collections::{BTreeMap, BTreeSet};

use racebench_model::{
    Candidate, Outcome, TestRecord, TrialRecord, Verdict, Weights, WeightsError, WeightsSet,
};

use crate::crosscheck;
use crate::load::LoadedRun;
use crate::pass_at_k;
use crate::summary::{
    AgentDatapoint, AgentOverall, AgentSummary, CandidateSummary, CategoryInfo, CategorySummary,
    DatapointSummary, LeaderboardCell, LeaderboardRow, Score, Summary, TestOutcome, TestSummary,
    TrialCounts, TrialOutcome, TrialSummary, UnweightedTest, VerdictCounts, SUMMARY_FORMAT,
};
use crate::wilson::Interval;

/// Why a run could not be graded.
#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    #[error("failed to find weights for datapoint `{datapoint}`")]
    Weights {
        datapoint: String,
        #[source]
        source: Box<WeightsError>,
    },
}

/// Grades every candidate of every datapoint of `run` under `weights`.
pub fn grade(run: &LoadedRun, weights: &WeightsSet) -> Result<Summary, GradeError> {
    let mut datapoints = Vec::new();
    for datapoint in run.datapoints() {
        let w = weights
            .require(datapoint)
            .map_err(|source| GradeError::Weights {
                datapoint: datapoint.to_string(),
                source: Box::new(source),
            })?;
        let mut candidates: Vec<&Candidate> = run.candidates(datapoint).collect();
        candidates.sort_by(|a, b| {
            (a.kind, &a.agent, a.sample, &a.id).cmp(&(b.kind, &b.agent, b.sample, &b.id))
        });
        datapoints.push(DatapointSummary {
            id: datapoint.to_string(),
            categories: w
                .categories
                .iter()
                .map(|c| CategoryInfo {
                    name: c.name.clone(),
                    weight: c.weight,
                    description: c.description.clone(),
                    tests: c.tests.clone(),
                })
                .collect(),
            candidates: candidates
                .into_iter()
                .map(|c| grade_candidate(run, c, w))
                .collect(),
        });
    }
    let agents = agents(&datapoints);
    let leaderboard = leaderboard(&datapoints);
    let m = &run.manifest;
    Ok(Summary {
        format: SUMMARY_FORMAT,
        run_id: m.run_id.clone(),
        racebench_version: m.racebench_version.clone(),
        grader_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: m.created_at.clone(),
        finished_at: m.finished_at.clone(),
        status: m.status,
        trials_per_candidate: m.trials,
        datapoints,
        agents,
        leaderboard,
    })
}

/// Rounds away binary noise (0.30000000000000004) from sums of decimal weights.
/// Also turns the -0.0 of an empty float sum into 0.0.
fn tidy(x: f64) -> f64 {
    (x * 1e12).round() / 1e12 + 0.0
}

fn grade_candidate(run: &LoadedRun, candidate: &Candidate, weights: &Weights) -> CandidateSummary {
    let trials = run.trials(&candidate.datapoint, &candidate.id);
    let counting: Vec<&TrialRecord> = trials.ran.iter().filter(|r| r.verdict.counts()).collect();
    let n = counting.len() as u32;
    // Each trial's report as it counts: reconciled with its exit code and
    // the weights (every rule that decides a pass is applied here).
    let (counted, mut notes): (Vec<Vec<TestRecord>>, BTreeMap<u32, Vec<String>>) = {
        let mut counted = Vec::new();
        let mut notes = BTreeMap::new();
        for r in &counting {
            let (tests, mut found) = crosscheck::reconcile(&r.tests, weights, r.exit_code);
            if !r.patch.protected.is_empty() && r.verdict == Verdict::Tested {
                found.push(format!(
                    "the patch changes protected paths ({}); every test counts as failed",
                    r.patch.protected.join(", ")
                ));
            }
            counted.push(tests);
            notes.insert(r.trial, found);
        }
        (counted, notes)
    };

    let mut tests = Vec::new();
    for category in &weights.categories {
        for name in &category.tests {
            let outcomes: Vec<TrialOutcome> = counting
                .iter()
                .zip(&counted)
                .map(|(r, tests)| {
                    let (outcome, message) = outcome_of(r, tests, name);
                    TrialOutcome {
                        trial: r.trial,
                        outcome,
                        message,
                    }
                })
                .collect();
            let passes = outcomes.iter().filter(|o| o.outcome.is_pass()).count() as u32;
            tests.push(TestSummary {
                name: name.clone(),
                category: category.name.clone(),
                weight: tidy(category.test_weight()),
                passes,
                trials: n,
                pass_rate: (n > 0).then(|| f64::from(passes) / f64::from(n)),
                interval: Interval::wilson(passes, n),
                fixed: n > 0 && passes == n,
                outcomes,
            });
        }
    }

    let categories: Vec<CategorySummary> = weights
        .categories
        .iter()
        .map(|c| {
            let own: Vec<&TestSummary> = tests.iter().filter(|t| t.category == c.name).collect();
            let graded = n > 0;
            CategorySummary {
                name: c.name.clone(),
                weight: c.weight,
                tests: own.len() as u32,
                fixed: own.iter().filter(|t| t.fixed).count() as u32,
                strict: graded
                    .then(|| tidy(own.iter().filter(|t| t.fixed).map(|t| t.weight).sum())),
                lenient: graded.then(|| {
                    tidy(
                        own.iter()
                            .map(|t| t.weight * t.pass_rate.unwrap_or(0.0))
                            .sum(),
                    )
                }),
            }
        })
        .collect();

    let trial_results: Vec<TrialSummary> = trials
        .ran
        .iter()
        .map(|r| {
            let counts = r.verdict.counts();
            let passed: Vec<&TestSummary> = tests
                .iter()
                .filter(|t| {
                    t.outcomes
                        .iter()
                        .any(|o| o.trial == r.trial && o.outcome.is_pass())
                })
                .collect();
            TrialSummary {
                trial: r.trial,
                verdict: r.verdict,
                counts,
                passed: passed.len() as u32,
                tests: tests.len() as u32,
                score: counts.then(|| tidy(passed.iter().map(|t| t.weight).sum())),
                error: r.error.clone(),
                has_events: r.events.is_some(),
                notes: notes.remove(&r.trial).unwrap_or_default(),
            }
        })
        .collect();

    let score = (n > 0).then(|| {
        let strict = tidy(categories.iter().filter_map(|c| c.strict).sum());
        let lenient = tidy(categories.iter().filter_map(|c| c.lenient).sum());
        let trial_scores: f64 = trial_results.iter().filter_map(|t| t.score).sum();
        Score {
            strict,
            lenient,
            interval: Interval::wilson_fractional(trial_scores, n),
            solved: tests.iter().all(|t| t.fixed),
            clean_trials: trial_results.iter().filter(|t| t.clean()).count() as u32,
        }
    });

    let mut verdicts = VerdictCounts::default();
    for r in &trials.ran {
        match r.verdict {
            Verdict::Tested => verdicts.tested += 1,
            Verdict::PatchFailed => verdicts.patch_failed += 1,
            Verdict::BuildFailed => verdicts.build_failed += 1,
            Verdict::TimedOut => verdicts.timed_out += 1,
            Verdict::InfraError => verdicts.infra_error += 1,
            Verdict::Cancelled => {}
        }
    }

    CandidateSummary {
        id: candidate.id.clone(),
        kind: candidate.kind,
        agent: candidate.agent.clone(),
        sample: candidate.sample,
        patch: candidate.patch.clone(),
        must_fail: candidate.must_fail.clone(),
        trials: TrialCounts {
            planned: run.manifest.trials,
            counted: n,
            infra_error: verdicts.infra_error,
            cancelled: trials.cancelled.len() as u32,
            not_run: trials.not_run.len() as u32,
            verdicts,
        },
        trial_results,
        tests,
        categories,
        score,
        unweighted: unweighted(&counting, weights),
    }
}

/// What one weighted test did in one counting trial, from the trial's
/// reconciled `tests`. A test reported more than once passes only if every
/// report of it passed. A patch that touches a protected path fails every
/// test, whatever the tests reported.
fn outcome_of(
    record: &TrialRecord,
    tests: &[TestRecord],
    test: &str,
) -> (TestOutcome, Option<String>) {
    match record.verdict {
        Verdict::PatchFailed => return (TestOutcome::PatchFailed, None),
        Verdict::BuildFailed => return (TestOutcome::BuildFailed, None),
        Verdict::TimedOut => return (TestOutcome::TimedOut, None),
        Verdict::Tested | Verdict::InfraError | Verdict::Cancelled => {}
    }
    if !record.patch.protected.is_empty() {
        return (
            TestOutcome::Protected,
            Some(format!(
                "the patch changes protected paths: {}",
                record.patch.protected.join(", ")
            )),
        );
    }
    let mut reports = tests.iter().filter(|t| t.name == test).peekable();
    if reports.peek().is_none() {
        return (TestOutcome::Missing, None);
    }
    match reports.find(|t| !t.outcome.is_pass()) {
        None => (TestOutcome::Passed, None),
        Some(t) => {
            let outcome = match t.outcome {
                Outcome::Passed => TestOutcome::Passed,
                Outcome::Failed => TestOutcome::Failed,
                Outcome::Error => TestOutcome::Error,
                Outcome::Skipped => TestOutcome::Skipped,
                Outcome::Missing => TestOutcome::Missing,
            };
            (outcome, t.message.clone())
        }
    }
}

fn unweighted(counting: &[&TrialRecord], weights: &Weights) -> Vec<UnweightedTest> {
    let weighted: BTreeSet<&str> = weights.tests().collect();
    let mut found: BTreeMap<&str, UnweightedTest> = BTreeMap::new();
    for record in counting.iter().filter(|r| r.verdict == Verdict::Tested) {
        let names: BTreeSet<&str> = record
            .tests
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !weighted.contains(n))
            .collect();
        for name in names {
            let entry = found.entry(name).or_insert_with(|| UnweightedTest {
                name: name.to_string(),
                seen: 0,
                passes: 0,
            });
            entry.seen += 1;
            if record
                .tests
                .iter()
                .filter(|t| t.name == name)
                .all(|t| t.outcome.is_pass())
            {
                entry.passes += 1;
            }
        }
    }
    found.into_values().collect()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0u32), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| tidy(sum / f64::from(count)))
}

fn agents(datapoints: &[DatapointSummary]) -> Vec<AgentSummary> {
    let mut by_agent: BTreeMap<&str, Vec<AgentDatapoint>> = BTreeMap::new();
    for dp in datapoints {
        let mut samples: BTreeMap<&str, Vec<&CandidateSummary>> = BTreeMap::new();
        for c in &dp.candidates {
            if let Some(agent) = &c.agent {
                samples.entry(agent).or_default().push(c);
            }
        }
        for (agent, mut cands) in samples {
            cands.sort_by(|a, b| (a.sample, &a.id).cmp(&(b.sample, &b.id)));
            let graded: Vec<&Score> = cands.iter().filter_map(|c| c.score.as_ref()).collect();
            let n = graded.len() as u32;
            let solved = graded.iter().filter(|s| s.solved).count() as u32;
            by_agent.entry(agent).or_default().push(AgentDatapoint {
                datapoint: dp.id.clone(),
                candidates: cands.iter().map(|c| c.id.clone()).collect(),
                samples: n,
                inconclusive: cands.len() as u32 - n,
                solved,
                mean_strict: mean(graded.iter().map(|s| s.strict)),
                mean_lenient: mean(graded.iter().map(|s| s.lenient)),
                pass_at_k: pass_at_k::table(n, solved),
            });
        }
    }
    by_agent
        .into_iter()
        .map(|(agent, datapoints)| {
            let max_n = datapoints.iter().map(|d| d.samples).max().unwrap_or(0);
            let overall = (1..=max_n)
                .map(|k| {
                    let rows: Vec<_> = datapoints
                        .iter()
                        .filter_map(|d| d.pass_at_k.iter().find(|p| p.k == k))
                        .collect();
                    AgentOverall {
                        k,
                        datapoints: rows.len() as u32,
                        pass_at_k: mean(rows.iter().map(|p| p.pass_at_k)).unwrap_or(0.0),
                        pass_hat_k: mean(rows.iter().map(|p| p.pass_hat_k)).unwrap_or(0.0),
                    }
                })
                .collect();
            AgentSummary {
                agent: agent.to_string(),
                datapoints,
                overall,
            }
        })
        .collect()
}

fn leaderboard(datapoints: &[DatapointSummary]) -> Vec<LeaderboardRow> {
    let mut rows: BTreeMap<&str, LeaderboardRow> = BTreeMap::new();
    for dp in datapoints {
        for c in &dp.candidates {
            let row = rows.entry(&c.id).or_insert_with(|| LeaderboardRow {
                rank: 0,
                candidate: c.id.clone(),
                kind: c.kind,
                agent: c.agent.clone(),
                graded: 0,
                solved: 0,
                mean_strict: None,
                mean_lenient: None,
                cells: Vec::new(),
                missing: Vec::new(),
                excluded: Vec::new(),
            });
            row.cells.push(LeaderboardCell {
                datapoint: dp.id.clone(),
                score: c.score,
                counted: c.trials.counted,
                infra_error: c.trials.infra_error,
            });
        }
    }
    // A datapoint ranks candidates only if every candidate tried on it was
    // graded on it.
    let incomplete: BTreeSet<&str> = datapoints
        .iter()
        .filter(|dp| dp.candidates.iter().any(|c| c.score.is_none()))
        .map(|dp| dp.id.as_str())
        .collect();
    let mut rows: Vec<LeaderboardRow> = rows
        .into_values()
        .map(|mut row| {
            row.missing = row
                .cells
                .iter()
                .filter(|c| c.score.is_none())
                .map(|c| c.datapoint.clone())
                .collect();
            row.excluded = row
                .cells
                .iter()
                .filter(|c| incomplete.contains(c.datapoint.as_str()))
                .map(|c| c.datapoint.clone())
                .collect();
            let all: Vec<Score> = row.cells.iter().filter_map(|c| c.score).collect();
            row.graded = all.len() as u32;
            row.solved = all.iter().filter(|s| s.solved).count() as u32;
            let ranked: Vec<Score> = row
                .cells
                .iter()
                .filter(|c| !incomplete.contains(c.datapoint.as_str()))
                .filter_map(|c| c.score)
                .collect();
            row.mean_strict = mean(ranked.iter().map(|s| s.strict));
            row.mean_lenient = mean(ranked.iter().map(|s| s.lenient));
            row
        })
        .collect();
    let key = |r: &LeaderboardRow| {
        (
            r.mean_strict.unwrap_or(-1.0),
            r.mean_lenient.unwrap_or(-1.0),
        )
    };
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then_with(|| a.candidate.cmp(&b.candidate))
    });
    // Competition ranking: equal scores share a rank (1, 1, 3).
    for i in 0..rows.len() {
        rows[i].rank = if i > 0 && key(&rows[i]) == key(&rows[i - 1]) {
            rows[i - 1].rank
        } else {
            i as u32 + 1
        };
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use racebench_model::{
        CandidateKind, Category, PatchReport, RunManifest, RunStatus, TestRecord, Timings,
        RESULTS_FORMAT,
    };
    use std::path::PathBuf;

    pub(crate) fn weights() -> WeightsSet {
        WeightsSet::from_weights(
            PathBuf::from("weights"),
            [Weights {
                format: 1,
                datapoint: "demo".into(),
                categories: vec![
                    Category {
                        name: "Race".into(),
                        weight: 0.6,
                        description: String::new(),
                        tests: vec!["race_a".into(), "race_b".into()],
                    },
                    Category {
                        name: "Basics".into(),
                        weight: 0.4,
                        description: String::new(),
                        tests: vec!["basic".into()],
                    },
                ],
            }],
        )
    }

    fn candidate(id: &str, kind: CandidateKind, agent: Option<&str>) -> Candidate {
        Candidate {
            id: id.into(),
            kind,
            datapoint: "demo".into(),
            agent: agent.map(String::from),
            sample: None,
            patch: None,
            must_fail: vec![],
        }
    }

    fn trial(
        candidate: &str,
        n: u32,
        verdict: Verdict,
        passing: &[&str],
        failing: &[&str],
    ) -> TrialRecord {
        let test = |name: &&str, outcome| TestRecord {
            name: name.to_string(),
            classname: None,
            category: None,
            outcome,
            duration_ms: None,
            message: None,
        };
        TrialRecord {
            format: RESULTS_FORMAT,
            run_id: "r".into(),
            datapoint: "demo".into(),
            candidate: candidate.into(),
            trial: n,
            verdict,
            patch: PatchReport {
                method: None,
                files: vec![],
                protected: vec![],
                added_lines: 0,
                removed_lines: 0,
            },
            exit_code: None,
            tests: passing
                .iter()
                .map(|n| test(n, Outcome::Passed))
                .chain(failing.iter().map(|n| test(n, Outcome::Failed)))
                .collect(),
            inconsistencies: vec![],
            timings: Timings::default(),
            logs: BTreeMap::new(),
            events: None,
            error: None,
            earlier_attempts: vec![],
            started_at: String::new(),
            finished_at: String::new(),
        }
    }

    pub(crate) fn run(candidates: Vec<Candidate>, records: Vec<TrialRecord>) -> LoadedRun {
        let trials = records.iter().map(|r| r.trial).max().unwrap_or(0);
        LoadedRun::from_records(
            "run",
            RunManifest {
                format: RESULTS_FORMAT,
                run_id: "r".into(),
                racebench_version: "0".into(),
                created_at: String::new(),
                finished_at: None,
                status: RunStatus::Completed,
                trials,
                candidates,
                datapoints: BTreeMap::new(),
            },
            records,
        )
    }

    const ALL: &[&str] = &["race_a", "race_b", "basic"];

    fn graded(records: Vec<TrialRecord>) -> CandidateSummary {
        let id = records[0].candidate.clone();
        let r = run(vec![candidate(&id, CandidateKind::Patch, None)], records);
        let summary = grade(&r, &weights()).unwrap();
        summary.datapoints[0].candidates[0].clone()
    }

    #[test]
    fn strict_counts_only_tests_fixed_in_every_trial() {
        let c = graded(vec![
            trial("p", 1, Verdict::Tested, ALL, &[]),
            trial("p", 2, Verdict::Tested, &["race_b", "basic"], &["race_a"]),
        ]);
        let score = c.score.unwrap();
        assert_eq!(score.strict, 0.7, "race_b (0.3) + basic (0.4)");
        assert_eq!(score.lenient, 0.85, "plus half of race_a");
        assert!(!score.solved);
        assert_eq!(score.clean_trials, 1);
        assert_eq!(c.categories[0].strict, Some(0.3));
        assert_eq!(c.categories[0].lenient, Some(0.45));
        assert_eq!(c.test("race_a").unwrap().passes, 1);
        assert!(c.test("race_b").unwrap().fixed);
    }

    #[test]
    fn infrastructure_errors_never_count_against_a_candidate() {
        let c = graded(vec![
            trial("p", 1, Verdict::Tested, ALL, &[]),
            trial("p", 2, Verdict::InfraError, &[], &[]),
        ]);
        assert_eq!(c.trials.counted, 1);
        assert_eq!(c.trials.infra_error, 1);
        assert!(c.score.unwrap().solved);
        assert_eq!(c.trial_results[1].score, None);
    }

    #[test]
    fn only_infrastructure_errors_leave_the_candidate_ungraded() {
        let c = graded(vec![trial("p", 1, Verdict::InfraError, &[], &[])]);
        assert_eq!(c.score, None);
        assert!(c.tests.iter().all(|t| !t.fixed && t.pass_rate.is_none()));
        assert_eq!(c.categories[0].strict, None);
    }

    #[test]
    fn a_test_missing_from_the_report_counts_as_failed() {
        let c = graded(vec![trial(
            "p",
            1,
            Verdict::Tested,
            &["race_a", "race_b"],
            &[],
        )]);
        let basic = c.test("basic").unwrap();
        assert_eq!(basic.outcomes[0].outcome, TestOutcome::Missing);
        assert!(!basic.fixed);
        assert_eq!(c.score.unwrap().strict, 0.6);
    }

    #[test]
    fn a_patch_touching_a_protected_path_fails_every_test_whatever_they_reported() {
        let mut t = trial("p", 1, Verdict::Tested, &["race_a", "race_b", "basic"], &[]);
        t.patch.protected = vec!["tests/conftest.py".into()];
        let c = graded(vec![t]);
        assert!(c
            .tests
            .iter()
            .all(|t| t.outcomes[0].outcome == TestOutcome::Protected));
        assert_eq!(c.score.unwrap().strict, 0.0);
        assert!(c.trial_results[0].notes[0].contains("tests/conftest.py"));
    }

    /// The runner stores the report as it was read; the grader does not
    /// believe passes that the test step's exit code contradicts, and a
    /// made-up failing test does not explain that exit.
    #[test]
    fn a_forged_report_with_a_made_up_failure_scores_nothing() {
        let mut t = trial(
            "p",
            1,
            Verdict::Tested,
            &["race_a", "race_b", "basic"],
            &["test_made_up"],
        );
        t.exit_code = Some(1);
        let c = graded(vec![t]);
        assert_eq!(c.score.unwrap().strict, 0.0);
        assert!(c
            .tests
            .iter()
            .all(|t| t.outcomes[0].outcome == TestOutcome::Error));
        assert!(c.trial_results[0].notes[0].contains("exited with 1"));
    }

    #[test]
    fn patch_and_build_failures_fail_every_test_and_count() {
        let c = graded(vec![
            trial("p", 1, Verdict::PatchFailed, &[], &[]),
            trial("p", 2, Verdict::BuildFailed, &[], &[]),
            trial("p", 3, Verdict::TimedOut, ALL, &[]),
        ]);
        assert_eq!(c.trials.counted, 3);
        assert_eq!(c.trials.verdicts.patch_failed, 1);
        assert_eq!(c.trials.verdicts.build_failed, 1);
        assert_eq!(c.trials.verdicts.timed_out, 1);
        assert_eq!(c.score.unwrap().strict, 0.0);
        assert_eq!(
            c.score.unwrap().lenient,
            0.0,
            "a timed-out trial passes nothing"
        );
        assert_eq!(
            c.test("basic").unwrap().outcomes[0].outcome,
            TestOutcome::PatchFailed
        );
    }

    #[test]
    fn a_test_reported_twice_passes_only_if_both_passed() {
        let c = graded(vec![trial("p", 1, Verdict::Tested, ALL, &["basic"])]);
        assert_eq!(
            c.test("basic").unwrap().outcomes[0].outcome,
            TestOutcome::Failed
        );
    }

    #[test]
    fn unweighted_tests_are_listed_not_scored() {
        let c = graded(vec![trial(
            "p",
            1,
            Verdict::Tested,
            &["race_a", "race_b", "basic", "extra"],
            &[],
        )]);
        assert_eq!(
            c.unweighted,
            [UnweightedTest {
                name: "extra".into(),
                seen: 1,
                passes: 1
            }]
        );
        assert!(c.score.unwrap().solved);
    }

    #[test]
    fn missing_weights_name_the_file_to_create() {
        let r = run(vec![candidate("p", CandidateKind::Patch, None)], vec![]);
        let err = grade(&r, &WeightsSet::from_weights(PathBuf::from("w"), [])).unwrap_err();
        let GradeError::Weights { source, .. } = &err;
        assert!(source.to_string().contains("demo.toml"), "{source}");
    }

    #[test]
    fn agent_samples_give_pass_at_k() {
        let mut a0 = candidate("a-s0", CandidateKind::Prediction, Some("acme/m"));
        a0.sample = Some(0);
        let mut a1 = candidate("a-s1", CandidateKind::Prediction, Some("acme/m"));
        a1.sample = Some(1);
        let mut a2 = candidate("a-s2", CandidateKind::Prediction, Some("acme/m"));
        a2.sample = Some(2);
        let r = run(
            vec![a0, a1, a2],
            vec![
                trial("a-s0", 1, Verdict::Tested, ALL, &[]),
                trial(
                    "a-s1",
                    1,
                    Verdict::Tested,
                    &["basic"],
                    &["race_a", "race_b"],
                ),
                trial("a-s2", 1, Verdict::InfraError, &[], &[]),
            ],
        );
        let s = grade(&r, &weights()).unwrap();
        let d = &s.agents[0].datapoints[0];
        assert_eq!((d.samples, d.solved, d.inconclusive), (2, 1, 1));
        assert_eq!(d.pass_at_k[0].pass_at_k, 0.5);
        assert_eq!(d.pass_at_k[1].pass_at_k, 1.0);
        assert_eq!(d.pass_at_k[1].pass_hat_k, 0.0);
        assert_eq!(s.agents[0].overall.len(), 2);
    }

    #[test]
    fn leaderboard_ranks_by_strict_then_lenient_and_shares_ties() {
        let r = run(
            vec![
                candidate("low", CandidateKind::Patch, None),
                candidate("high", CandidateKind::Patch, None),
                candidate("tie", CandidateKind::Patch, None),
            ],
            vec![
                trial("low", 1, Verdict::Tested, &["basic"], &["race_a", "race_b"]),
                trial("high", 1, Verdict::Tested, ALL, &[]),
                trial("tie", 1, Verdict::Tested, ALL, &[]),
            ],
        );
        let s = grade(&r, &weights()).unwrap();
        let order: Vec<(u32, &str)> = s
            .leaderboard
            .iter()
            .map(|r| (r.rank, r.candidate.as_str()))
            .collect();
        assert_eq!(order, [(1, "high"), (1, "tie"), (3, "low")]);
    }

    /// Regression: the leaderboard averaged only graded cells, so breaking
    /// the infrastructure on the hardest datapoint raised a candidate's rank.
    #[test]
    fn a_datapoint_some_candidate_was_not_graded_on_ranks_nobody() {
        let r = run(
            vec![
                candidate("honest", CandidateKind::Patch, None),
                candidate("breaker", CandidateKind::Patch, None),
            ],
            vec![
                trial("honest", 1, Verdict::Tested, ALL, &[]),
                trial("breaker", 1, Verdict::Tested, ALL, &[]),
            ],
        );
        let easy = grade(&r, &weights()).unwrap().datapoints.remove(0);
        let mut hard = easy.clone();
        hard.id = "hard".into();
        for c in &mut hard.candidates {
            c.score = match c.id.as_str() {
                "breaker" => None,
                _ => c.score.map(|s| Score {
                    strict: 0.0,
                    lenient: 0.0,
                    solved: false,
                    ..s
                }),
            };
        }
        let rows = leaderboard(&[easy, hard]);
        let by = |id: &str| rows.iter().find(|r| r.candidate == id).unwrap();
        assert_eq!(by("breaker").mean_strict, Some(1.0));
        assert_eq!(
            by("honest").mean_strict,
            Some(1.0),
            "the hard datapoint is left out"
        );
        assert_eq!(by("breaker").rank, by("honest").rank);
        assert_eq!(by("breaker").missing, ["hard"]);
        assert_eq!(by("honest").excluded, ["hard"]);
    }
}
