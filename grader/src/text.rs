//! The compact terminal table `racebench grade` prints: one line per
//! candidate per datapoint, then the agents' pass@k and the leaderboard.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::summary::{CandidateSummary, Summary};

/// Renders the summary as plain text with aligned columns.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({}, {} trials per candidate)",
        summary.run_id,
        status(summary),
        summary.trials_per_candidate
    );
    for dp in &summary.datapoints {
        let _ = writeln!(out, "\n{}", dp.id);
        let mut rows = vec![row(&[
            "candidate",
            "kind",
            "strict",
            "lenient",
            "95% CI",
            "trials",
            "notes",
        ])];
        for c in &dp.candidates {
            let (strict, lenient, ci) = match &c.score {
                Some(s) => (
                    format!("{:.2}", s.strict),
                    format!("{:.2}", s.lenient),
                    format!("[{:.2}, {:.2}]", s.interval.low, s.interval.high),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            rows.push(vec![
                c.id.clone(),
                c.kind.to_string(),
                strict,
                lenient,
                ci,
                format!("{}/{}", c.trials.counted, c.trials.planned),
                notes(c),
            ]);
        }
        table(
            &mut out,
            &rows,
            &[false, false, true, true, false, true, false],
        );
    }
    if !summary.agents.is_empty() {
        let _ = writeln!(
            out,
            "\nagents (samples are candidates; solved = strict score 1.0)"
        );
        let max_k = summary
            .agents
            .iter()
            .flat_map(|a| a.datapoints.iter().map(|d| d.samples))
            .max()
            .unwrap_or(0);
        let mut header = vec![
            "agent".to_string(),
            "datapoint".into(),
            "n".into(),
            "solved".into(),
        ];
        for k in 1..=max_k {
            header.push(format!("pass@{k}"));
        }
        for k in 2..=max_k {
            header.push(format!("pass^{k}"));
        }
        let mut rows = vec![header];
        for a in &summary.agents {
            for d in &a.datapoints {
                let mut r = vec![
                    a.agent.clone(),
                    d.datapoint.clone(),
                    d.samples.to_string(),
                    d.solved.to_string(),
                ];
                for k in 1..=max_k {
                    r.push(
                        d.pass_at_k
                            .iter()
                            .find(|p| p.k == k)
                            .map_or("-".into(), |p| format!("{:.2}", p.pass_at_k)),
                    );
                }
                for k in 2..=max_k {
                    r.push(
                        d.pass_at_k
                            .iter()
                            .find(|p| p.k == k)
                            .map_or("-".into(), |p| format!("{:.2}", p.pass_hat_k)),
                    );
                }
                rows.push(r);
            }
        }
        let align: Vec<bool> = (0..rows[0].len()).map(|i| i >= 2).collect();
        table(&mut out, &rows, &align);
    }
    let _ = writeln!(out, "\nleaderboard (means over graded datapoints)");
    let mut rows = vec![row(&[
        "#",
        "candidate",
        "kind",
        "strict",
        "lenient",
        "solved",
    ])];
    for r in &summary.leaderboard {
        rows.push(vec![
            r.rank.to_string(),
            r.candidate.clone(),
            r.kind.to_string(),
            r.mean_strict.map_or("-".into(), |v| format!("{v:.2}")),
            r.mean_lenient.map_or("-".into(), |v| format!("{v:.2}")),
            format!("{}/{}", r.solved, r.graded),
        ]);
    }
    table(&mut out, &rows, &[true, false, false, true, true, true]);
    // Cells with no graded trial leave their datapoint out of every mean.
    let mut left_out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &summary.leaderboard {
        for dp in &r.missing {
            left_out.entry(dp).or_default().push(&r.candidate);
        }
    }
    for (dp, candidates) in left_out {
        let _ = writeln!(
            out,
            "not ranked on {dp}: {} not graded there (infrastructure errors); rerun with --resume",
            candidates.join(", ")
        );
    }
    out
}

fn status(summary: &Summary) -> &'static str {
    match summary.status {
        racebench_model::RunStatus::Running => "running",
        racebench_model::RunStatus::Completed => "completed",
        racebench_model::RunStatus::Cancelled => "cancelled",
        racebench_model::RunStatus::Failed => "failed",
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// What the score alone does not say: trials that did not count or stopped early.
fn notes(c: &CandidateSummary) -> String {
    let t = &c.trials;
    let mut notes = Vec::new();
    for (n, what) in [
        (t.verdicts.infra_error, "infra error"),
        (t.verdicts.patch_failed, "patch failed"),
        (t.verdicts.build_failed, "build failed"),
        (t.verdicts.timed_out, "timed out"),
        (t.cancelled, "cancelled"),
        (t.not_run, "not run"),
    ] {
        if n > 0 {
            notes.push(format!("{n} {what}"));
        }
    }
    if !c.unweighted.is_empty() {
        let names: Vec<&str> = c.unweighted.iter().map(|u| u.name.as_str()).collect();
        notes.push(format!("unweighted: {}", names.join(", ")));
    }
    notes.join(", ")
}

/// Writes rows with columns padded to their widest cell; `right[i]` right-aligns column i.
fn table(out: &mut String, rows: &[Vec<String>], right: &[bool]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from("  ");
        for (i, cell) in r.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
