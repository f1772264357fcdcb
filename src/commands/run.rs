//! `racebench run`: candidates against datapoints, then a graded summary.

use std::sync::Arc;

use anyhow::Context as _;
use racebench_model::{CandidateKind, RunLayout, RunStatus};
use racebench_runner::predictions::read_predictions;
use racebench_runner::results::read_manifest;
use racebench_runner::run::CandidatePatch;

use crate::args::RunArgs;
use crate::commands::grade::summarize_run;
use crate::commands::launch::{builtin_candidates, launch, Selection};
use crate::commands::Context;
use crate::exit_code::{self, coded};
use crate::output;

pub async fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<i32> {
    if !args.agents.agent.is_empty()
        || crate::commands::agents::is_agent_run(args.resume.as_deref())
    {
        return crate::commands::agents::run_agents(ctx, &args).await;
    }
    let weights = ctx.weights()?;
    let mut options = args.options.clone();
    let (selections, resume) = if let Some(run_dir) = &args.resume {
        let (selections, layout, manifest) = resumed(ctx, run_dir)?;
        options.trials = manifest.trials;
        (selections, Some((layout, manifest)))
    } else if let Some(path) = &args.predictions {
        (from_predictions(ctx, path, &args.datapoint_ids)?, None)
    } else {
        (from_flags(ctx, &args)?, None)
    };
    let launched = launch(selections, &weights, &options, resume).await?;
    let ungraded = launched
        .outcome
        .records
        .iter()
        .filter(|r| r.verdict == racebench_model::Verdict::InfraError)
        .count();
    let code = match launched.outcome.status {
        RunStatus::Cancelled => {
            output::status(format!(
                "run interrupted; finish it with: racebench run --resume {}",
                launched.layout.root().display()
            ));
            exit_code::INTERRUPTED
        }
        _ if ungraded > 0 => {
            output::warning(format!(
                "{ungraded} trial(s) hit an infrastructure error and are not graded (see their records' `error`)"
            ));
            exit_code::INCONCLUSIVE
        }
        _ => exit_code::SUCCESS,
    };
    // The trials are saved whatever grading says; `racebench grade` can redo it.
    if let Err(e) = summarize_run(launched.layout.root(), &weights) {
        output::warning(format!(
            "the run is saved in {} but could not be graded: {e:#}",
            launched.layout.root().display()
        ));
    }
    Ok(code)
}

fn from_flags(ctx: &Context, args: &RunArgs) -> anyhow::Result<Vec<Selection>> {
    if args.patch.is_empty() && !args.reference && !args.no_patch && !args.decoys {
        return Err(coded(
            exit_code::USAGE,
            anyhow::anyhow!("say what to run: --patch FILE, --reference, --no-patch, --decoys or --predictions FILE"),
        ));
    }
    let mut patches = Vec::new();
    for path in &args.patch {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the patch {}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("patch");
        patches.push((racebench_model::candidate::slug(stem), Arc::new(text)));
    }
    let datapoints = ctx.select(&args.datapoint_ids)?;
    if !args.patch.is_empty() && datapoints.len() != 1 {
        return Err(coded(
            exit_code::USAGE,
            anyhow::anyhow!("a --patch is for one datapoint; name it with --datapoint ID"),
        ));
    }
    datapoints
        .into_iter()
        .map(|dp| {
            let mut candidates =
                builtin_candidates(&dp, args.reference, args.no_patch, args.decoys)?;
            for (id, text) in &patches {
                candidates.push(CandidatePatch {
                    candidate: racebench_model::Candidate {
                        id: format!("patch-{id}"),
                        kind: CandidateKind::Patch,
                        datapoint: dp.spec.id.clone(),
                        agent: None,
                        sample: None,
                        patch: None,
                        must_fail: Vec::new(),
                    },
                    patch: Some(text.clone()),
                });
            }
            Ok(Selection {
                datapoint: dp,
                candidates,
            })
        })
        .collect()
}

fn from_predictions(
    ctx: &Context,
    path: &std::path::Path,
    only: &[String],
) -> anyhow::Result<Vec<Selection>> {
    let predictions = read_predictions(path)?;
    let all = ctx.datapoints()?;
    let mut selections: Vec<Selection> = Vec::new();
    let mut unknown = Vec::new();
    for prediction in predictions {
        let id = &prediction.candidate.datapoint;
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(dp) = all.iter().find(|d| &d.spec.id == id) else {
            if !unknown.contains(id) {
                unknown.push(id.clone());
            }
            continue;
        };
        let entry = match selections
            .iter_mut()
            .position(|s| &s.datapoint.spec.id == id)
        {
            Some(i) => &mut selections[i],
            None => {
                selections.push(Selection {
                    datapoint: dp.clone(),
                    candidates: Vec::new(),
                });
                selections.last_mut().expect("just pushed")
            }
        };
        entry.candidates.push(CandidatePatch {
            candidate: prediction.candidate,
            patch: Some(Arc::new(prediction.patch)),
        });
    }
    if !unknown.is_empty() {
        anyhow::bail!(
            "{} names datapoints that do not exist in {}: {}; fix their instance_id or pass --datapoints",
            path.display(),
            ctx.datapoints_dir.display(),
            unknown.join(", ")
        );
    }
    if selections.is_empty() {
        anyhow::bail!(
            "{} has no predictions for the selected datapoints",
            path.display()
        );
    }
    Ok(selections)
}

/// Rebuilds the selection of an interrupted run from its manifest and stored patches.
fn resumed(
    ctx: &Context,
    run_dir: &std::path::Path,
) -> anyhow::Result<(Vec<Selection>, RunLayout, racebench_model::RunManifest)> {
    let layout = RunLayout::new(run_dir);
    let manifest = read_manifest(&layout)?;
    let all = ctx.datapoints()?;
    let mut selections: Vec<Selection> = Vec::new();
    for candidate in &manifest.candidates {
        let dp = all
            .iter()
            .find(|d| d.spec.id == candidate.datapoint)
            .with_context(|| {
                format!(
                    "the run needs datapoint {}, which is not in {}",
                    candidate.datapoint,
                    ctx.datapoints_dir.display()
                )
            })?;
        let patch = match &candidate.patch {
            Some(rel) => Some(Arc::new(
                std::fs::read_to_string(layout.path(rel))
                    .with_context(|| format!("failed to read the stored patch {rel}"))?,
            )),
            None => None,
        };
        let cp = CandidatePatch {
            candidate: candidate.clone(),
            patch,
        };
        match selections
            .iter_mut()
            .find(|s| s.datapoint.spec.id == dp.spec.id)
        {
            Some(s) => s.candidates.push(cp),
            None => selections.push(Selection {
                datapoint: dp.clone(),
                candidates: vec![cp],
            }),
        }
    }
    Ok((selections, layout, manifest))
}
