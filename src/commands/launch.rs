//! What `run`, `validate`, `calibrate` and `bench` share: getting images and
//! services ready, writing the manifest, forwarding Ctrl-C to the scheduler,
//! printing progress, and stopping what the run started.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use racebench_model::{
    Candidate, CandidateKind, Datapoint, RunLayout, RunManifest, RunStatus, ServiceKind, Verdict,
    Weights, WeightsSet, RESULTS_FORMAT,
};
use racebench_runner::archive::FileSet;
use racebench_runner::base_image::{ensure_base, BaseOrigin};
use racebench_runner::cache_dir::cache_dir;
use racebench_runner::datapoint_image::ensure_datapoint_image;
use racebench_runner::engine::Engine;
use racebench_runner::image::Provenance;
use racebench_runner::run::{self, CandidatePatch, Job, RunConfig, RunEvent, RunOutcome};
use racebench_runner::trial::pack_hidden_tests;
use tokio::sync::mpsc;

use crate::args::TrialOptions;
use crate::commands::services::{remove_services_started_here, TrialServicesHandle};
use crate::exit_code::{self, coded};
use crate::output;

/// A datapoint and the candidates to try on it.
pub struct Selection {
    pub datapoint: Datapoint,
    pub candidates: Vec<CandidatePatch>,
}

/// A finished (or interrupted) run.
pub struct Launched {
    pub layout: RunLayout,
    pub outcome: RunOutcome,
}

/// The reference, unpatched and decoy candidates of a datapoint, as asked.
pub fn builtin_candidates(
    datapoint: &Datapoint,
    reference: bool,
    unpatched: bool,
    decoys: bool,
) -> anyhow::Result<Vec<CandidatePatch>> {
    let id = datapoint.spec.id.clone();
    let mut out = Vec::new();
    let read = |path: &Path| -> anyhow::Result<Arc<String>> {
        Ok(Arc::new(std::fs::read_to_string(path).with_context(
            || format!("failed to read the patch {}", path.display()),
        )?))
    };
    if reference {
        out.push(CandidatePatch {
            candidate: candidate(&id, "reference", CandidateKind::Reference, Vec::new()),
            patch: Some(read(&datapoint.reference_patch())?),
        });
    }
    if unpatched {
        out.push(CandidatePatch {
            candidate: candidate(&id, "unpatched", CandidateKind::Unpatched, Vec::new()),
            patch: None,
        });
    }
    if decoys {
        for decoy in &datapoint.spec.decoys {
            out.push(CandidatePatch {
                candidate: candidate(
                    &id,
                    &format!("decoy-{}", decoy.name),
                    CandidateKind::Decoy,
                    decoy.must_fail.clone(),
                ),
                patch: Some(read(&datapoint.dir.join(&decoy.patch))?),
            });
        }
    }
    Ok(out)
}

fn candidate(datapoint: &str, id: &str, kind: CandidateKind, must_fail: Vec<String>) -> Candidate {
    Candidate {
        id: id.to_string(),
        kind,
        datapoint: datapoint.to_string(),
        agent: None,
        sample: None,
        patch: None,
        must_fail,
    }
}

/// Hash of everything in a datapoint folder, recorded in `run.json`.
fn datapoint_hash(datapoint: &Datapoint) -> String {
    FileSet::from_dir(&datapoint.dir, &[])
        .map(|f| f.content_hash())
        .unwrap_or_default()
}

/// Everything a run needs before its first trial.
struct Prepared {
    layout: RunLayout,
    manifest: RunManifest,
    jobs: Vec<Job>,
    services: Option<TrialServicesHandle>,
}

/// Runs the selection: new run, or the continuation of `resume`. Ctrl-C while
/// images and services are being prepared stops there and removes the
/// services this process started; during trials, the scheduler handles it.
pub async fn launch(
    selections: Vec<Selection>,
    weights: &WeightsSet,
    options: &TrialOptions,
    resume: Option<(RunLayout, RunManifest)>,
) -> anyhow::Result<Launched> {
    let engine = Engine::connect().await?;
    tracing::debug!(engine = %engine.info(), "engine ready");
    let (interrupt_tx, mut interrupt_rx) = mpsc::unbounded_channel();
    let ctrl_c = tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if interrupt_tx.send(()).is_err() {
                break;
            }
        }
    });
    let prepared = tokio::select! {
        prepared = prepare(&engine, &selections, weights, options, resume) => prepared,
        _ = interrupt_rx.recv() => {
            output::status("interrupted before any trial ran; removing the services this run started");
            if let Err(e) = remove_services_started_here(&engine).await {
                output::warning(format!("{e:#}"));
            }
            ctrl_c.abort();
            return Err(coded(exit_code::INTERRUPTED, anyhow::anyhow!("interrupted while preparing the run")));
        }
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            ctrl_c.abort();
            return Err(e);
        }
    };
    let Prepared {
        layout,
        manifest,
        jobs,
        services,
    } = prepared;

    let config = RunConfig {
        layout: layout.clone(),
        run_id: manifest.run_id.clone(),
        trials: options.trials,
        jobs: options.jobs as usize,
        keep: options.keep,
        grace: Duration::from_secs(options.grace),
    };
    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let grace = options.grace;
    let printer = tokio::spawn(async move {
        while let Some(event) = event_rx.recv().await {
            print_event(&event, grace);
        }
    });
    let provider = services.as_ref().map(|s| s.provider());
    let outcome = run::run(
        &engine,
        provider,
        &config,
        &jobs,
        manifest,
        interrupt_rx,
        event_tx,
    )
    .await;
    let _ = printer.await;
    if let Some(services) = services {
        if let Err(e) = services.stop_started().await {
            output::warning(format!(
                "failed to stop the services this run started: {e:#}"
            ));
        }
    }
    ctrl_c.abort();
    let outcome = outcome?;
    Ok(Launched { layout, outcome })
}

/// The run folder, images, hidden tests and services.
async fn prepare(
    engine: &Engine,
    selections: &[Selection],
    weights: &WeightsSet,
    options: &TrialOptions,
    resume: Option<(RunLayout, RunManifest)>,
) -> anyhow::Result<Prepared> {
    let engine = engine.clone();
    // The run folder and its manifest first, so build logs have a home.
    let (layout, mut manifest) = match resume {
        Some((layout, manifest)) => (layout, manifest),
        None => {
            let run_id = run::new_run_id();
            let layout = RunLayout::new(options.results.join(&run_id));
            std::fs::create_dir_all(layout.root()).with_context(|| {
                format!(
                    "failed to create the results folder {}",
                    layout.root().display()
                )
            })?;
            let manifest = RunManifest {
                format: RESULTS_FORMAT,
                run_id,
                racebench_version: env!("CARGO_PKG_VERSION").to_string(),
                created_at: run::now(),
                finished_at: None,
                status: RunStatus::Running,
                trials: options.trials,
                candidates: Vec::new(),
                datapoints: BTreeMap::new(),
            };
            (layout, manifest)
        }
    };
    output::status(format!("results: {}", layout.root().display()));

    // Base image, then one image per datapoint (reused when unchanged).
    let base_started = Instant::now();
    let base = ensure_base(&engine, &cache_dir().join("base"), &mut |line: &str| {
        output::status(format!("  base: {line}"));
    })
    .await?;
    match &base.origin {
        BaseOrigin::Present => {}
        BaseOrigin::Pulled => output::status(format!(
            "base image pulled in {:.0?}",
            base_started.elapsed()
        )),
        BaseOrigin::Bootstrapped { tool, seconds } => {
            output::status(format!("base image created with {tool} in {seconds}s"))
        }
    }
    let mut jobs = Vec::new();
    let mut needed: BTreeSet<ServiceKind> = BTreeSet::new();
    for selection in selections {
        let dp = &selection.datapoint;
        let id = dp.spec.id.clone();
        let hash = datapoint_hash(dp);
        if let Some(previous) = manifest.datapoints.get(&id) {
            if previous != &hash {
                output::warning(format!(
                    "datapoint {id} changed since this run started; new trials use the current version"
                ));
            }
        }
        manifest.datapoints.insert(id.clone(), hash);
        let log_path = layout.path(&format!("logs/images/{id}.log"));
        let image = build_image_logged(&engine, dp, &base.id, &log_path).await?;
        needed.extend(dp.spec.services.iter().copied());
        let hidden_tests = pack_hidden_tests(dp)
            .with_context(|| format!("failed to pack the hidden tests of {id}"))?;
        let dp_weights: Option<Arc<Weights>> = weights.get(&id).cloned().map(Arc::new);
        if dp_weights.is_none() {
            output::warning(format!(
                "no weights for {id} in {}; its tests are recorded but not scored",
                weights.dir.display()
            ));
        }
        // Store each candidate's patch in the run folder, and list it in the manifest.
        let mut candidates = Vec::new();
        for cand in &selection.candidates {
            let mut candidate = cand.candidate.clone();
            if let Some(patch) = &cand.patch {
                let rel = RunLayout::patch_rel(&id, &candidate.id);
                racebench_runner::results::write_atomic(&layout.path(&rel), patch.as_bytes())?;
                candidate.patch = Some(rel);
            }
            if !manifest
                .candidates
                .iter()
                .any(|c| c.datapoint == candidate.datapoint && c.id == candidate.id)
            {
                manifest.candidates.push(candidate.clone());
            }
            candidates.push(CandidatePatch {
                candidate,
                patch: cand.patch.clone(),
            });
        }
        jobs.push(Job {
            datapoint: Arc::new(dp.clone()),
            weights: dp_weights,
            image: image.clone(),
            hidden_tests: Arc::new(hidden_tests),
            candidates,
        });
    }

    // Services the datapoints need: reused if running, else started for this run.
    let services = if needed.is_empty() {
        None
    } else {
        Some(TrialServicesHandle::start(&engine, &needed).await?)
    };
    Ok(Prepared {
        layout,
        manifest,
        jobs,
        services,
    })
}

/// Builds or reuses a datapoint image, keeping the build output in a log file.
async fn build_image_logged(
    engine: &Engine,
    dp: &Datapoint,
    base_id: &str,
    log_path: &Path,
) -> anyhow::Result<String> {
    let id = &dp.spec.id;
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut log = std::fs::File::create(log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let started = Instant::now();
    let image = ensure_datapoint_image(engine, dp, base_id, |line| {
        let _ = writeln!(log, "{line}");
    })
    .await
    .with_context(|| {
        format!(
            "failed to build the image of datapoint {id} (log: {})",
            log_path.display()
        )
    })?;
    match image.provenance {
        Provenance::Reused => output::status(format!("image {} (reused)", image.tag)),
        Provenance::Built => output::status(format!(
            "image {} built in {:.1?}",
            image.tag,
            started.elapsed()
        )),
    }
    Ok(image.tag)
}

fn print_event(event: &RunEvent, grace: u64) {
    match event {
        RunEvent::TrialStarted { key } => {
            tracing::debug!(?key, "trial started");
        }
        RunEvent::TrialFinished { record, done, total } => {
            let passed = record.tests.iter().filter(|t| t.outcome.is_pass()).count();
            let detail = match record.verdict {
                Verdict::Tested => format!("{passed}/{} tests passed", record.tests.len()),
                _ => record.error.clone().unwrap_or_default(),
            };
            output::status(format!(
                "[{done:>3}/{total}] {} {} #{}: {} ({}, {:.1}s)",
                record.datapoint,
                record.candidate,
                record.trial,
                record.verdict.as_str(),
                detail,
                record.timings.total_ms as f64 / 1000.0
            ));
        }
        RunEvent::Interrupted { hard: false, running } => output::status(format!(
            "interrupted: starting no more trials; {running} running trial(s) get {grace}s to finish (Ctrl-C again to stop them now)"
        )),
        RunEvent::Interrupted { hard: true, running } => {
            output::status(format!("stopping {running} running trial(s) now and cleaning up"))
        }
    }
}
