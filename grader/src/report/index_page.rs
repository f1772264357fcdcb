//! The leaderboard page: candidates × datapoints with strict and lenient
//! scores and their intervals, then the agents ranked (with the tokens and
//! cost their samples reported, when they did) and each agent's pass@k and
//! pass^k.

use std::collections::BTreeMap;

use serde::Serialize;

use super::agent_page::SampleBrief;
use super::display::{count, css_pct, interval, opt_score, score, usd};
use super::page::{candidate_anchor, datapoint_href};
use crate::agent_board::agent_board;
use crate::summary::{LeaderboardCell, Summary};
use crate::usage::UsageTotals;

#[derive(Debug, Serialize)]
pub(crate) struct IndexView {
    datapoints: Vec<DatapointCard>,
    rows: Vec<Row>,
    board: Vec<BoardRow>,
    /// Whether any sample reported tokens or cost (the board's usage columns).
    board_usage: bool,
    agents: Vec<AgentView>,
    totals: Totals,
}

/// One agent in the agents' leaderboard (`leaderboard.json`'s row), with
/// the usage its samples reported.
#[derive(Debug, Serialize)]
struct BoardRow {
    rank: u32,
    agent: String,
    datapoints: u32,
    samples: u32,
    solved: u32,
    inconclusive: u32,
    strict: String,
    strict_se: Option<String>,
    lenient: String,
    lenient_se: Option<String>,
    pass_at_1: String,
    /// `2 of 4` samples that reported a usage.
    reported: String,
    input_tokens: String,
    output_tokens: String,
    cost: String,
    cost_per_sample: String,
}

#[derive(Debug, Serialize)]
struct DatapointCard {
    id: String,
    href: String,
    candidates: usize,
    categories: Vec<String>,
    tests: usize,
}

#[derive(Debug, Default, Serialize)]
struct Totals {
    candidates: usize,
    trials: u32,
    counted: u32,
    infra_error: u32,
    patch_failed: u32,
    build_failed: u32,
    timed_out: u32,
}

#[derive(Debug, Serialize)]
struct Row {
    rank: u32,
    candidate: String,
    kind: String,
    agent: Option<String>,
    mean_strict: String,
    mean_lenient: String,
    heat: String,
    solved: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Default, Serialize)]
struct Cell {
    present: bool,
    graded: bool,
    solved: bool,
    href: String,
    strict: String,
    lenient: String,
    interval: String,
    heat: String,
    low_pct: String,
    band_pct: String,
    lenient_pct: String,
    notes: Vec<String>,
    title: String,
}

#[derive(Debug, Serialize)]
struct AgentView {
    agent: String,
    ks: Vec<u32>,
    rows: Vec<AgentRow>,
    overall_at: Vec<String>,
    overall_hat: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AgentRow {
    datapoint: String,
    href: String,
    samples: u32,
    solved: u32,
    inconclusive: u32,
    mean_strict: String,
    pass_at: Vec<String>,
    pass_hat: Vec<String>,
}

fn cell(c: Option<&LeaderboardCell>, candidate: &str) -> Cell {
    let Some(c) = c else {
        return Cell::default();
    };
    let href = format!(
        "{}#{}",
        datapoint_href(&c.datapoint),
        candidate_anchor(candidate)
    );
    let mut notes = Vec::new();
    if c.infra_error > 0 {
        notes.push(format!("{} infra not counted", c.infra_error));
    }
    match &c.score {
        None => Cell {
            present: true,
            href,
            strict: "–".into(),
            lenient: "–".into(),
            interval: "no counting trial".into(),
            notes,
            title: "not graded: no trial counted".into(),
            ..Cell::default()
        },
        Some(s) => Cell {
            present: true,
            graded: true,
            solved: s.solved,
            href,
            strict: score(s.strict),
            lenient: score(s.lenient),
            interval: interval(s.interval),
            heat: format!("{:.3}", s.strict),
            low_pct: css_pct(s.interval.low),
            band_pct: css_pct(s.interval.high - s.interval.low),
            lenient_pct: css_pct(s.lenient),
            notes,
            title: format!(
                "strict {} · lenient {} · 95% CI {} · {} trials counted, {} clean",
                score(s.strict),
                score(s.lenient),
                interval(s.interval),
                c.counted,
                s.clean_trials
            ),
        },
    }
}

fn board(summary: &Summary, samples: &BTreeMap<(String, String), SampleBrief>) -> Vec<BoardRow> {
    let mut usage: BTreeMap<&str, UsageTotals> = BTreeMap::new();
    for brief in samples.values() {
        if let Some(u) = &brief.raw_usage {
            usage.entry(brief.agent.as_str()).or_default().add(u);
        }
    }
    let dash = || "–".to_string();
    agent_board(summary)
        .agents
        .into_iter()
        .map(|a| {
            let u = usage.get(a.agent.as_str()).copied().unwrap_or_default();
            BoardRow {
                rank: a.rank,
                datapoints: a.datapoints,
                samples: a.samples,
                solved: a.solved,
                inconclusive: a.inconclusive,
                strict: opt_score(a.mean_strict),
                strict_se: a.se_strict.map(score),
                lenient: opt_score(a.mean_lenient),
                lenient_se: a.se_lenient.map(score),
                pass_at_1: a
                    .pass_at_k
                    .iter()
                    .find(|p| p.k == 1)
                    .map_or_else(dash, |p| score(p.pass_at_k)),
                reported: format!("{} of {}", u.samples, a.samples + a.inconclusive),
                input_tokens: u.input_tokens.map_or_else(dash, count),
                output_tokens: u.output_tokens.map_or_else(dash, count),
                cost: u.cost_usd.map_or_else(dash, usd),
                cost_per_sample: u.cost_per_sample().map_or_else(dash, usd),
                agent: a.agent,
            }
        })
        .collect()
}

pub(crate) fn build(
    summary: &Summary,
    samples: &BTreeMap<(String, String), SampleBrief>,
) -> IndexView {
    let mut totals = Totals::default();
    for dp in &summary.datapoints {
        for c in &dp.candidates {
            let t = &c.trials;
            totals.trials += t.verdicts.tested
                + t.verdicts.patch_failed
                + t.verdicts.build_failed
                + t.verdicts.timed_out
                + t.verdicts.infra_error;
            totals.counted += t.counted;
            totals.infra_error += t.verdicts.infra_error;
            totals.patch_failed += t.verdicts.patch_failed;
            totals.build_failed += t.verdicts.build_failed;
            totals.timed_out += t.verdicts.timed_out;
        }
    }
    totals.candidates = summary.leaderboard.len();
    let rows = summary
        .leaderboard
        .iter()
        .map(|r| Row {
            rank: r.rank,
            candidate: r.candidate.clone(),
            kind: r.kind.to_string(),
            agent: r.agent.clone(),
            mean_strict: opt_score(r.mean_strict),
            mean_lenient: opt_score(r.mean_lenient),
            heat: r.mean_strict.map(|v| format!("{v:.3}")).unwrap_or_default(),
            solved: format!("{}/{}", r.solved, r.graded),
            cells: summary
                .datapoints
                .iter()
                .map(|dp| cell(r.cells.iter().find(|c| c.datapoint == dp.id), &r.candidate))
                .collect(),
        })
        .collect();
    let agents = summary
        .agents
        .iter()
        .map(|a| {
            let ks: Vec<u32> = a.overall.iter().map(|o| o.k).collect();
            AgentView {
                agent: a.agent.clone(),
                rows: a
                    .datapoints
                    .iter()
                    .map(|d| {
                        let at = |k: u32, hat: bool| {
                            d.pass_at_k
                                .iter()
                                .find(|p| p.k == k)
                                .map_or("–".into(), |p| {
                                    score(if hat { p.pass_hat_k } else { p.pass_at_k })
                                })
                        };
                        AgentRow {
                            datapoint: d.datapoint.clone(),
                            href: datapoint_href(&d.datapoint),
                            samples: d.samples,
                            solved: d.solved,
                            inconclusive: d.inconclusive,
                            mean_strict: opt_score(d.mean_strict),
                            pass_at: ks.iter().map(|&k| at(k, false)).collect(),
                            pass_hat: ks.iter().map(|&k| at(k, true)).collect(),
                        }
                    })
                    .collect(),
                overall_at: a.overall.iter().map(|o| score(o.pass_at_k)).collect(),
                overall_hat: a.overall.iter().map(|o| score(o.pass_hat_k)).collect(),
                ks,
            }
        })
        .collect();
    IndexView {
        datapoints: summary
            .datapoints
            .iter()
            .map(|d| DatapointCard {
                id: d.id.clone(),
                href: datapoint_href(&d.id),
                candidates: d.candidates.len(),
                categories: d
                    .categories
                    .iter()
                    .map(|c| format!("{} {:.2}", c.name, c.weight))
                    .collect(),
                tests: d.categories.iter().map(|c| c.tests.len()).sum(),
            })
            .collect(),
        rows,
        board: board(summary, samples),
        board_usage: samples.values().any(|s| s.raw_usage.is_some()),
        agents,
        totals,
    }
}
