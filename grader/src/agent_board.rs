//! The agents' leaderboard of a run: for each agent, the mean strict and
//! lenient score over every graded sample on every datapoint, with a
//! standard error clustered by datapoint (samples of one datapoint are not
//! independent; Inspect clusters the same way), the share of samples that
//! solved their datapoint, and pass@k and pass^k. Computed from a
//! [`Summary`]; written as `leaderboard.json` beside it.

use serde::{Deserialize, Serialize};

use crate::summary::{AgentOverall, Summary};

/// Version of the `leaderboard.json` format.
pub const AGENT_BOARD_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentBoard {
    pub format: u32,
    pub run_id: String,
    /// Best mean strict score first.
    pub agents: Vec<AgentRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    /// 1-based.
    pub rank: u32,
    pub agent: String,
    /// Datapoints with at least one graded sample.
    pub datapoints: u32,
    /// Graded samples, over every datapoint.
    pub samples: u32,
    /// Samples with no counting trial (infrastructure): left out.
    pub inconclusive: u32,
    /// Samples that solved their datapoint (strict score 1.0).
    pub solved: u32,
    pub mean_strict: Option<f64>,
    /// Standard error of `mean_strict`, clustered by datapoint; none with fewer than two datapoints.
    pub se_strict: Option<f64>,
    pub mean_lenient: Option<f64>,
    pub se_lenient: Option<f64>,
    /// pass@k and pass^k, averaged over datapoints with at least k samples.
    pub pass_at_k: Vec<AgentOverall>,
}

/// The agents' leaderboard of a graded run (empty when no candidate has an agent).
pub fn agent_board(summary: &Summary) -> AgentBoard {
    let mut agents: Vec<AgentRow> = summary
        .agents
        .iter()
        .map(|a| {
            let mut strict = Vec::new();
            let mut lenient = Vec::new();
            let (mut samples, mut inconclusive, mut solved) = (0, 0, 0);
            for d in &a.datapoints {
                samples += d.samples;
                inconclusive += d.inconclusive;
                solved += d.solved;
                let Some(dp) = summary.datapoint(&d.datapoint) else {
                    continue;
                };
                for c in d.candidates.iter().filter_map(|id| dp.candidate(id)) {
                    if let Some(score) = &c.score {
                        strict.push((d.datapoint.as_str(), score.strict));
                        lenient.push((d.datapoint.as_str(), score.lenient));
                    }
                }
            }
            AgentRow {
                rank: 0,
                agent: a.agent.clone(),
                datapoints: a.datapoints.iter().filter(|d| d.samples > 0).count() as u32,
                samples,
                inconclusive,
                solved,
                mean_strict: mean(&strict),
                se_strict: clustered_se(&strict),
                mean_lenient: mean(&lenient),
                se_lenient: clustered_se(&lenient),
                pass_at_k: a.overall.clone(),
            }
        })
        .collect();
    agents.sort_by(|a, b| {
        b.mean_strict
            .unwrap_or(-1.0)
            .total_cmp(&a.mean_strict.unwrap_or(-1.0))
            .then(
                b.mean_lenient
                    .unwrap_or(-1.0)
                    .total_cmp(&a.mean_lenient.unwrap_or(-1.0)),
            )
            .then(a.agent.cmp(&b.agent))
    });
    for (i, row) in agents.iter_mut().enumerate() {
        row.rank = i as u32 + 1;
    }
    AgentBoard {
        format: AGENT_BOARD_FORMAT,
        run_id: summary.run_id.clone(),
        agents,
    }
}

fn mean(values: &[(&str, f64)]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().map(|(_, v)| v).sum::<f64>() / values.len() as f64)
}

/// Cluster-robust standard error of the mean of `values` grouped by their
/// cluster: `sqrt(G/(G-1) * Σ_g (Σ_i∈g (x_i - x̄))² / n²)`, with G clusters
/// and n values. `None` with fewer than two clusters.
pub fn clustered_se(values: &[(&str, f64)]) -> Option<f64> {
    let n = values.len() as f64;
    let x_bar = mean(values)?;
    let mut sums: std::collections::BTreeMap<&str, f64> = Default::default();
    for (cluster, v) in values {
        *sums.entry(cluster).or_default() += v - x_bar;
    }
    let g = sums.len() as f64;
    if g < 2.0 {
        return None;
    }
    let var = g / (g - 1.0) * sums.values().map(|s| s * s).sum::<f64>() / (n * n);
    Some(var.sqrt())
}

impl AgentBoard {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the board serializes") + "\n"
    }

    /// A terminal table: one row per agent.
    pub fn render_text(&self) -> String {
        if self.agents.is_empty() {
            return String::new();
        }
        let pct = |v: Option<f64>| v.map(|v| format!("{:.1}", v * 100.0)).unwrap_or("-".into());
        let se = |v: Option<f64>| v.map(|v| format!("±{:.1}", v * 100.0)).unwrap_or_default();
        let mut out =
            String::from("\nagents (scores in %, ± one standard error clustered by datapoint):\n");
        out.push_str(&format!(
            "  {:<4} {:<24} {:>6} {:>8} {:>14} {:>14} {:>8} {:>8}\n",
            "rank", "agent", "solved", "samples", "strict", "lenient", "pass@1", "pass^k"
        ));
        for a in &self.agents {
            let p1 = a.pass_at_k.iter().find(|p| p.k == 1).map(|p| p.pass_at_k);
            let last = a.pass_at_k.last();
            out.push_str(&format!(
                "  {:<4} {:<24} {:>6} {:>8} {:>14} {:>14} {:>8} {:>8}\n",
                a.rank,
                a.agent,
                a.solved,
                a.samples,
                format!("{} {}", pct(a.mean_strict), se(a.se_strict)).trim(),
                format!("{} {}", pct(a.mean_lenient), se(a.se_lenient)).trim(),
                pct(p1),
                last.map(|p| format!("{}@{}", pct(Some(p.pass_hat_k)), p.k))
                    .unwrap_or("-".into()),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustered_se_needs_two_clusters_and_grows_with_cluster_agreement() {
        assert_eq!(clustered_se(&[("a", 1.0), ("a", 0.0)]), None);
        let spread = clustered_se(&[("a", 1.0), ("a", 0.0), ("b", 1.0), ("b", 0.0)]).unwrap();
        let clustered = clustered_se(&[("a", 1.0), ("a", 1.0), ("b", 0.0), ("b", 0.0)]).unwrap();
        // Within-datapoint agreement is no extra evidence: the error is larger.
        assert!(clustered > spread, "{clustered} vs {spread}");
        assert!(
            spread.abs() < 1e-12,
            "cluster means equal the mean: {spread}"
        );
        assert!((clustered - 0.5).abs() < 1e-12, "{clustered}");
    }
}
