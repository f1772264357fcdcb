//! A datapoint's page: its weight categories, every candidate's category
//! bars, then per candidate the verdict of each trial, each test's pass rate
//! across trials with its Wilson interval, the patch (escaped) and links to
//! failing trials, the timeline and the agent sample that wrote the patch.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::agent_page::SampleBrief;
use super::diff_lines::{diff_lines, DiffLine};
use super::display::{
    css_pct, interval, interval_pct, name_of, opt_score, outcome, outcome_words, percent, score,
    verdict,
};
use super::page::{candidate_anchor, timeline_href, trial_href};
use super::trial_strip::{trial_strip, StripCell};
use crate::excerpt::read_head;
use crate::load::LoadedRun;
use crate::summary::{CandidateSummary, DatapointSummary};

#[derive(Debug, Serialize)]
pub(crate) struct DatapointView {
    id: String,
    categories: Vec<CategoryView>,
    overview: Vec<OverviewRow>,
    candidates: Vec<CandidateView>,
}

#[derive(Debug, Serialize)]
struct CategoryView {
    name: String,
    weight: String,
    description: String,
    tests: Vec<String>,
}

#[derive(Debug, Serialize)]
struct OverviewRow {
    id: String,
    anchor: String,
    kind: String,
    agent: Option<String>,
    graded: bool,
    solved: bool,
    strict: String,
    lenient: String,
    interval: String,
    heat: String,
    trials: String,
    categories: Vec<CategoryBar>,
}

#[derive(Debug, Serialize)]
struct CategoryBar {
    name: String,
    strict_pct: String,
    lenient_pct: String,
    text: String,
    title: String,
}

#[derive(Debug, Serialize)]
struct CandidateView {
    id: String,
    anchor: String,
    kind: String,
    agent: Option<String>,
    sample: Option<u32>,
    must_fail: Vec<String>,
    graded: bool,
    strict: String,
    lenient: String,
    interval: String,
    solved: bool,
    badges: Vec<Badge>,
    strip: Vec<StripCell>,
    /// The agent sample that wrote the patch, when the run keeps it.
    agent_sample: Option<SampleBrief>,
    trials: Vec<u32>,
    tests: Vec<TestRow>,
    unweighted: Vec<String>,
    patch: PatchView,
    failing: Vec<FailingLink>,
    timeline: Option<String>,
}

#[derive(Debug, Serialize)]
struct Badge {
    class: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct TestRow {
    name: String,
    category: String,
    /// Rows this category spans, on its first test; 0 on the others.
    category_rows: usize,
    weight: String,
    cells: Vec<OutcomeCell>,
    passes: String,
    rate: String,
    rate_pct: String,
    low_pct: String,
    band_pct: String,
    interval: String,
    fixed: bool,
}

#[derive(Debug, Serialize)]
struct OutcomeCell {
    class: &'static str,
    symbol: &'static str,
    title: String,
}

#[derive(Debug, Serialize)]
struct FailingLink {
    trial: u32,
    href: String,
    words: String,
}

#[derive(Debug, Default, Serialize)]
struct PatchView {
    /// Path in the run folder; none for the unpatched service.
    path: Option<String>,
    lines: Vec<DiffLine>,
    note: Option<String>,
    added: u64,
    removed: u64,
    files: Vec<String>,
    protected: Vec<String>,
    method: Option<String>,
}

/// Whether a trial gets its own page: any trial that did not pass everything.
pub(crate) fn has_trial_page(c: &CandidateSummary, trial: u32) -> bool {
    c.trial_results
        .iter()
        .any(|t| t.trial == trial && !t.clean())
}

fn patch(
    run: &LoadedRun,
    dp: &str,
    c: &CandidateSummary,
    max_bytes: usize,
    warnings: &mut Vec<String>,
) -> PatchView {
    let mut view = PatchView::default();
    if let Some(r) = run.trials(dp, &c.id).ran.first() {
        view.added = r.patch.added_lines;
        view.removed = r.patch.removed_lines;
        view.files = r.patch.files.clone();
        view.protected = r.patch.protected.clone();
        view.method = r.patch.method.map(name_of);
    }
    let Some(rel) = &c.patch else {
        view.note = Some("no patch: this candidate runs the service as it is".into());
        return view;
    };
    view.path = Some(rel.clone());
    let path = run.layout.path(rel);
    match read_head(&path, max_bytes as u64) {
        Err(e) => {
            warnings.push(format!("could not read patch {}: {e}", path.display()));
            view.note = Some(format!("the patch file {rel} could not be read: {e}"));
        }
        Ok(head) => {
            view.note = head.head_note();
            if head.total_bytes == 0 {
                view.note = Some("the patch is empty".into());
            }
            view.lines = diff_lines(&head.text);
        }
    }
    view
}

fn candidate(
    run: &LoadedRun,
    dp: &DatapointSummary,
    c: &CandidateSummary,
    timelines: &BTreeSet<(String, String)>,
    samples: &BTreeMap<(String, String), SampleBrief>,
    max_patch_bytes: usize,
    warnings: &mut Vec<String>,
) -> CandidateView {
    let root = "../";
    let t = &c.trials;
    let mut badges = vec![Badge {
        class: "b-neutral",
        text: format!("{} of {} trials counted", t.counted, t.planned),
    }];
    for (n, class, what) in [
        (
            t.verdicts.infra_error,
            "b-infra",
            "infrastructure error, not counted",
        ),
        (t.cancelled, "b-infra", "cancelled, not run"),
        (t.not_run, "b-infra", "not run"),
        (t.verdicts.patch_failed, "b-patch", "patch failed"),
        (t.verdicts.build_failed, "b-build", "build failed"),
        (t.verdicts.timed_out, "b-timeout", "timed out"),
    ] {
        if n > 0 {
            badges.push(Badge {
                class,
                text: format!("{n} {what}"),
            });
        }
    }
    let strip = trial_strip(&dp.id, c, root);
    let trials: Vec<u32> = c.trial_results.iter().map(|t| t.trial).collect();
    let mut tests = Vec::new();
    for (i, test) in c.tests.iter().enumerate() {
        let first = i == 0 || c.tests[i - 1].category != test.category;
        let cells = c
            .trial_results
            .iter()
            .map(
                |tr| match test.outcomes.iter().find(|o| o.trial == tr.trial) {
                    Some(o) => {
                        let (class, symbol) = outcome(o.outcome);
                        let mut title = format!("trial {}: {}", tr.trial, outcome_words(o.outcome));
                        if let Some(m) = &o.message {
                            title.push_str(": ");
                            title.push_str(m);
                        }
                        OutcomeCell {
                            class,
                            symbol,
                            title,
                        }
                    }
                    None => OutcomeCell {
                        class: "o-none",
                        symbol: "·",
                        title: format!("trial {}: not counted ({})", tr.trial, tr.verdict.as_str()),
                    },
                },
            )
            .collect();
        tests.push(TestRow {
            name: test.name.clone(),
            category: test.category.clone(),
            category_rows: if first {
                c.tests[i..]
                    .iter()
                    .take_while(|t| t.category == test.category)
                    .count()
            } else {
                0
            },
            weight: format!("{:.3}", test.weight),
            cells,
            passes: format!("{}/{}", test.passes, test.trials),
            rate: test.pass_rate.map_or("–".into(), percent),
            rate_pct: css_pct(test.pass_rate.unwrap_or(0.0)),
            low_pct: css_pct(test.interval.low),
            band_pct: css_pct(test.interval.high - test.interval.low),
            interval: interval_pct(test.interval),
            fixed: test.fixed,
        });
    }
    let failing = c
        .trial_results
        .iter()
        .filter(|tr| !tr.clean())
        .map(|tr| FailingLink {
            trial: tr.trial,
            href: format!("{root}{}", trial_href(&dp.id, &c.id, tr.trial)),
            words: verdict(tr).2,
        })
        .collect();
    CandidateView {
        id: c.id.clone(),
        anchor: candidate_anchor(&c.id),
        kind: c.kind.to_string(),
        agent: c.agent.clone(),
        sample: c.sample,
        must_fail: c.must_fail.clone(),
        graded: c.score.is_some(),
        strict: opt_score(c.score.map(|s| s.strict)),
        lenient: opt_score(c.score.map(|s| s.lenient)),
        interval: c.score.map_or("–".into(), |s| interval(s.interval)),
        solved: c.score.is_some_and(|s| s.solved),
        badges,
        strip,
        agent_sample: samples
            .get(&(dp.id.clone(), c.id.clone()))
            .map(|s| s.at(root)),
        trials,
        tests,
        unweighted: c
            .unweighted
            .iter()
            .map(|u| format!("{} (passed {}/{})", u.name, u.passes, u.seen))
            .collect(),
        patch: patch(run, &dp.id, c, max_patch_bytes, warnings),
        failing,
        timeline: timelines
            .contains(&(dp.id.clone(), c.id.clone()))
            .then(|| format!("{root}{}", timeline_href(&dp.id, &c.id))),
    }
}

pub(crate) fn build(
    run: &LoadedRun,
    dp: &DatapointSummary,
    timelines: &BTreeSet<(String, String)>,
    samples: &BTreeMap<(String, String), SampleBrief>,
    max_patch_bytes: usize,
    warnings: &mut Vec<String>,
) -> DatapointView {
    let overview = dp
        .candidates
        .iter()
        .map(|c| OverviewRow {
            id: c.id.clone(),
            anchor: candidate_anchor(&c.id),
            kind: c.kind.to_string(),
            agent: c.agent.clone(),
            graded: c.score.is_some(),
            solved: c.score.is_some_and(|s| s.solved),
            strict: opt_score(c.score.map(|s| s.strict)),
            lenient: opt_score(c.score.map(|s| s.lenient)),
            interval: c.score.map_or("–".into(), |s| interval(s.interval)),
            heat: c
                .score
                .map(|s| format!("{:.3}", s.strict))
                .unwrap_or_default(),
            trials: format!("{}/{}", c.trials.counted, c.trials.planned),
            categories: c
                .categories
                .iter()
                .map(|k| {
                    let strict = k.strict.unwrap_or(0.0) / k.weight;
                    let lenient = k.lenient.unwrap_or(0.0) / k.weight;
                    CategoryBar {
                        name: k.name.clone(),
                        strict_pct: css_pct(strict),
                        lenient_pct: css_pct(lenient),
                        text: format!("{}/{}", k.fixed, k.tests),
                        title: format!(
                            "{}: {} of {} tests fixed; strict {} and lenient {} of its weight {}",
                            k.name,
                            k.fixed,
                            k.tests,
                            opt_score(k.strict),
                            opt_score(k.lenient),
                            score(k.weight)
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    DatapointView {
        id: dp.id.clone(),
        categories: dp
            .categories
            .iter()
            .map(|k| CategoryView {
                name: k.name.clone(),
                weight: score(k.weight),
                description: k.description.clone(),
                tests: k.tests.clone(),
            })
            .collect(),
        overview,
        candidates: dp
            .candidates
            .iter()
            .map(|c| candidate(run, dp, c, timelines, samples, max_patch_bytes, warnings))
            .collect(),
    }
}
