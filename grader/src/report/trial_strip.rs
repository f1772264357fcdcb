//! A candidate's trials in a row: one cell per trial with its verdict's
//! symbol and words, linked to the trial's page when it has one.

use serde::Serialize;

use super::datapoint_page::has_trial_page;
use super::display::verdict;
use super::page::trial_href;
use crate::summary::CandidateSummary;

#[derive(Debug, Serialize)]
pub(crate) struct StripCell {
    trial: u32,
    class: &'static str,
    symbol: &'static str,
    words: String,
    href: Option<String>,
}

/// The strip of `c` on `datapoint`, for a page `root` below the report's root.
pub(crate) fn trial_strip(datapoint: &str, c: &CandidateSummary, root: &str) -> Vec<StripCell> {
    c.trial_results
        .iter()
        .map(|tr| {
            let (class, symbol, words) = verdict(tr);
            StripCell {
                trial: tr.trial,
                class,
                symbol,
                words: match &tr.error {
                    Some(e) => format!("{words}: {e}"),
                    None => words,
                },
                href: has_trial_page(c, tr.trial)
                    .then(|| format!("{root}{}", trial_href(datapoint, &c.id, tr.trial))),
            }
        })
        .collect()
}
