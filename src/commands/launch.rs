//! What `run`, `validate`, `calibrate` and `bench` share: the built-in
//! candidates of a datapoint, and a runner session with its progress printed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use racebench_model::{
    Candidate, CandidateKind, Datapoint, RunLayout, RunManifest, Verdict, WeightsSet,
};
use racebench_runner::engine::Engine;
use racebench_runner::run::{CandidatePatch, RunEvent};
use racebench_runner::services::ServicesConfig;
use racebench_runner::session::{self, ClusterOptions, SessionError, SessionEvent, SessionOptions};
pub use racebench_runner::session::{Launched, Selection};
use tokio::sync::mpsc;

use crate::args::{ClusterKind, SwarmArgs, TrialOptions};
use crate::exit_code::{self, coded};
use crate::output;

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

/// Runs the selection through a runner session, printing its progress:
/// a new run, or the continuation of `resume`.
pub async fn launch(
    selections: Vec<Selection>,
    weights: &WeightsSet,
    options: &TrialOptions,
    resume: Option<(RunLayout, RunManifest)>,
) -> anyhow::Result<Launched> {
    let engine = Engine::connect().await?;
    tracing::debug!(engine = %engine.info(), "engine ready");
    let session_options = SessionOptions {
        results: options.results.clone(),
        trials: options.trials,
        jobs: options.jobs as usize,
        keep: options.keep,
        grace: Duration::from_secs(options.grace),
        retries: options.retries,
        services: ServicesConfig::from_env()?,
        cluster: cluster_options(options)?,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let grace = options.grace;
    let printer = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            print_event(&event, grace);
        }
    });
    let launched =
        session::launch(&engine, selections, weights, &session_options, resume, tx).await;
    let _ = printer.await;
    match launched {
        Ok(launched) => Ok(launched),
        Err(SessionError::Interrupted) => {
            output::status("interrupted before any trial ran");
            Err(coded(exit_code::INTERRUPTED, SessionError::Interrupted))
        }
        Err(e) => Err(e.into()),
    }
}

/// The swarm to run on, when `--cluster swarm` asks for one.
pub fn cluster_options(options: &TrialOptions) -> anyhow::Result<Option<ClusterOptions>> {
    if options.cluster == ClusterKind::Local {
        return Ok(None);
    }
    let manager = swarm_manager(&options.swarm)?;
    let Some(registry) = options.swarm.registry.clone() else {
        return Err(coded(
            exit_code::USAGE,
            anyhow::anyhow!(
                "--cluster swarm needs --registry HOST:PORT (or RACEBENCH_REGISTRY): images are pushed there once and every node pulls them by digest"
            ),
        ));
    };
    Ok(Some(ClusterOptions { manager, registry }))
}

/// The manager's socket, or a usage error saying how to name it.
pub fn swarm_manager(swarm: &SwarmArgs) -> anyhow::Result<String> {
    swarm.manager.clone().ok_or_else(|| {
        coded(
            exit_code::USAGE,
            anyhow::anyhow!(
                "no swarm manager named: pass --manager unix://PATH (or RACEBENCH_SWARM_MANAGER), the engine socket of a swarm manager; forward a remote one with `ssh -fNT -L /tmp/racebench-swarm.sock:/var/run/docker.sock USER@MANAGER`"
            ),
        )
    })
}

fn print_event(event: &SessionEvent, grace: u64) {
    let event = match event {
        SessionEvent::Status(line) => return output::status(line),
        SessionEvent::Warning(line) => return output::warning(line),
        SessionEvent::Run(event) => event,
    };
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
