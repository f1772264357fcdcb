//! The measured rates of a datapoint: for each weighted test and candidate,
//! how many counting trials it passed, as data and as the markdown table kept
//! in the datapoint's README.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::summary::DatapointSummary;

/// Passes out of counting trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub passes: u32,
    pub trials: u32,
}

/// One weighted test across candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatesRow {
    pub test: String,
    pub category: String,
    pub weight: f64,
    /// One per candidate, in the order of `RatesTable::candidates`.
    pub rates: Vec<Rate>,
}

/// Pass counts of every candidate × weighted test of one datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatesTable {
    pub candidates: Vec<String>,
    pub rows: Vec<RatesRow>,
    /// Per candidate: counting trials in which every weighted test passed.
    pub clean: Vec<Rate>,
}

impl RatesTable {
    pub fn of(dp: &DatapointSummary) -> RatesTable {
        let candidates: Vec<String> = dp.candidates.iter().map(|c| c.id.clone()).collect();
        let rows = dp
            .categories
            .iter()
            .flat_map(|k| k.tests.iter().map(move |t| (k, t)))
            .map(|(k, test)| RatesRow {
                test: test.clone(),
                category: k.name.clone(),
                weight: k.weight / k.tests.len() as f64,
                rates: dp
                    .candidates
                    .iter()
                    .map(|c| {
                        c.test(test).map_or(
                            Rate {
                                passes: 0,
                                trials: 0,
                            },
                            |t| Rate {
                                passes: t.passes,
                                trials: t.trials,
                            },
                        )
                    })
                    .collect(),
            })
            .collect();
        let clean = dp
            .candidates
            .iter()
            .map(|c| Rate {
                passes: c.score.map_or(0, |s| s.clean_trials),
                trials: c.trials.counted,
            })
            .collect();
        RatesTable {
            candidates,
            rows,
            clean,
        }
    }

    /// The table as GitHub-flavoured markdown: passes/trials per cell.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| test | category | weight |");
        for c in &self.candidates {
            let _ = write!(out, " {} |", cell(c));
        }
        out.push_str("\n| --- | --- | ---: |");
        for _ in &self.candidates {
            out.push_str(" ---: |");
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(
                out,
                "| `{}` | {} | {:.3} |",
                cell(&row.test),
                cell(&row.category),
                row.weight
            );
            for r in &row.rates {
                let _ = write!(out, " {}/{} |", r.passes, r.trials);
            }
            out.push('\n');
        }
        out.push_str("| **every weighted test** | | |");
        for r in &self.clean {
            let _ = write!(out, " {}/{} |", r.passes, r.trials);
        }
        out.push('\n');
        out
    }
}

/// Keeps a value from breaking the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
