//! A session: everything a run needs before, around and after its trials.
//! The results folder and manifest, the stored patches, the base and
//! datapoint images (each datapoint folder read once), the service images of
//! the pods, external services if any, leftovers of dead racebench processes
//! swept, interrupts (Ctrl-C, SIGTERM) forwarded to the scheduler. Commands
//! call [`launch`] and print its events.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racebench_model::{
    Candidate, Datapoint, RunLayout, RunManifest, RunStatus, ServiceKind, Weights, WeightsSet,
    RESULTS_FORMAT,
};
use tokio::sync::mpsc;

use crate::base_image::{ensure_base, BaseOrigin, BASE_IMAGE};
use crate::cache_dir::cache_dir;
use crate::cluster::{ClusterError, Manager};
use crate::datapoint_files::DatapointFiles;
use crate::datapoint_image::ensure_datapoint_image;
use crate::engine::{Engine, EngineError};
use crate::executor::{Executor, Local, Swarm, SwarmImages};
use crate::image::{ImageError, Provenance};
use crate::labels;
use crate::pod::ServiceLimits;
use crate::results::{self, ResultsError};
use crate::run::{self, CandidatePatch, Job, RunConfig, RunError, RunEvent, RunOutcome};
use crate::services::{pod_images, External, ServiceError, ServicesConfig};
use crate::trial::{pack_hidden_tests, PodTemplate, Provision};

/// A datapoint and the candidates to try on it.
pub struct Selection {
    pub datapoint: Datapoint,
    pub candidates: Vec<CandidatePatch>,
}

/// How to run a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Where new run folders go.
    pub results: PathBuf,
    pub trials: u32,
    pub jobs: usize,
    pub keep: bool,
    pub grace: Duration,
    pub services: ServicesConfig,
    /// Times a trial that ends in an infrastructure error is run again.
    pub retries: u32,
    /// Run the trials on a swarm instead of the local engine.
    pub cluster: Option<ClusterOptions>,
}

/// Where a swarm run's pods go, and how its images reach the nodes.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The manager's engine socket (`unix://PATH`).
    pub manager: String,
    /// The registry images are pushed to and nodes pull from (`HOST:PORT`).
    pub registry: String,
}

/// What the session tells the user, in order.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    Status(String),
    Warning(String),
    Run(RunEvent),
}

/// A finished (or interrupted) run.
pub struct Launched {
    pub layout: RunLayout,
    pub outcome: RunOutcome,
}

/// Why a session could not run. [`is_infra`](Self::is_infra) says whether it
/// is the machine's fault (engine, images, services) or the input's.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("failed to build the image of datapoint {datapoint} (log: {log})")]
    Image {
        datapoint: String,
        log: String,
        #[source]
        source: ImageError,
    },
    #[error("failed to get the services ready")]
    Services(#[from] ServiceError),
    #[error("failed to read the datapoint folder {path}")]
    Datapoint {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("interrupted while preparing the run")]
    Interrupted,
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("failed to push the image {image} to the registry {registry}: {message}\nthe local engine must be able to push there: `docker push` to it by hand tells why not (for a registry with a certificate of its own, put its CA in /etc/docker/certs.d/{registry}/ca.crt)")]
    Push {
        image: String,
        registry: String,
        message: String,
    },
    #[error("{0}")]
    Unsupported(String),
}

impl SessionError {
    pub fn is_infra(&self) -> bool {
        match self {
            SessionError::Engine(_)
            | SessionError::Image { .. }
            | SessionError::Services(_)
            | SessionError::Cluster(_)
            | SessionError::Push { .. } => true,
            SessionError::Datapoint { .. }
            | SessionError::Io { .. }
            | SessionError::Results(_)
            | SessionError::Interrupted
            | SessionError::Unsupported(_) => false,
        }
    }
}

impl From<RunError> for SessionError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Results(e) => SessionError::Results(e),
        }
    }
}

/// Everything a run needs before its first trial.
struct Prepared {
    layout: RunLayout,
    manifest: RunManifest,
    jobs: Vec<Job>,
    executor: Executor,
    template: PodTemplate,
}

/// Runs the selection: a new run, or the continuation of `resume`. An
/// interrupt while preparing stops there (nothing of the run is running yet);
/// during trials, the scheduler handles it.
pub async fn launch(
    engine: &Engine,
    selections: Vec<Selection>,
    weights: &WeightsSet,
    options: &SessionOptions,
    resume: Option<(RunLayout, RunManifest)>,
    events: mpsc::UnboundedSender<SessionEvent>,
) -> Result<Launched, SessionError> {
    let (interrupt_tx, mut interrupt_rx) = mpsc::unbounded_channel();
    let signals = tokio::spawn(forward_interrupts(interrupt_tx));
    let say = |e: SessionEvent| {
        let _ = events.send(e);
    };
    let prepared = tokio::select! {
        prepared = prepare(engine, &selections, weights, options, resume, &say) => prepared,
        _ = interrupt_rx.recv() => {
            signals.abort();
            return Err(SessionError::Interrupted);
        }
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            signals.abort();
            return Err(e);
        }
    };
    let Prepared {
        layout,
        manifest,
        jobs,
        executor,
        template,
    } = prepared;
    let config = RunConfig {
        layout: layout.clone(),
        run_id: manifest.run_id.clone(),
        trials: options.trials,
        jobs: options.jobs,
        keep: options.keep,
        grace: options.grace,
        pod: Arc::new(template),
        retries: options.retries,
    };
    let (run_tx, mut run_rx) = mpsc::unbounded_channel();
    let forward = {
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(event) = run_rx.recv().await {
                let _ = events.send(SessionEvent::Run(event));
            }
        })
    };
    let outcome = run::run(&executor, &config, &jobs, manifest, interrupt_rx, run_tx).await;
    let _ = forward.await;
    if let Executor::Swarm(swarm) = &executor {
        sweep_run_on_swarm(swarm, &config.run_id, options.keep, &say).await;
    }
    signals.abort();
    Ok(Launched {
        layout,
        outcome: outcome?,
    })
}

/// Ctrl-C and SIGTERM (what `docker stop` and schedulers send) both count as
/// an interrupt: the first stops starting trials, the second kills them.
async fn forward_interrupts(tx: mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                while tokio::signal::ctrl_c().await.is_ok() {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
                return;
            }
        };
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                s = term.recv() => if s.is_none() { return },
            }
            if tx.send(()).is_err() {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    while tokio::signal::ctrl_c().await.is_ok() {
        if tx.send(()).is_err() {
            return;
        }
    }
}

async fn prepare(
    engine: &Engine,
    selections: &[Selection],
    weights: &WeightsSet,
    options: &SessionOptions,
    resume: Option<(RunLayout, RunManifest)>,
    say: &dyn Fn(SessionEvent),
) -> Result<Prepared, SessionError> {
    let status = |s: String| say(SessionEvent::Status(s));
    let warn = |s: String| say(SessionEvent::Warning(s));
    // The run folder and its manifest first, so build logs have a home.
    let (layout, mut manifest) = match resume {
        Some((layout, manifest)) => (layout, manifest),
        None => {
            let run_id = run::new_run_id();
            let layout = RunLayout::new(options.results.join(&run_id));
            std::fs::create_dir_all(layout.root()).map_err(|source| SessionError::Io {
                path: layout.root().display().to_string(),
                source,
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
    status(format!("results: {}", layout.root().display()));
    // What killed racebench processes left (a resumed run's own pods among
    // them); live processes' pods are never touched.
    match sweep_dead_pods(engine).await {
        Ok(0) => {}
        Ok(n) => status(format!(
            "removed {n} container(s) and network(s) left by racebench processes that died"
        )),
        Err(e) => warn(format!(
            "leftovers of dead racebench processes were not removed: {e}"
        )),
    }

    let base_started = Instant::now();
    let base = ensure_base(engine, &cache_dir().join("base"), &mut |line: &str| {
        status(format!("  base: {line}"))
    })
    .await
    .map_err(|source| SessionError::Image {
        datapoint: "(base image)".into(),
        log: "-".into(),
        source,
    })?;
    match &base.origin {
        BaseOrigin::Present => {}
        BaseOrigin::Pulled => status(format!(
            "base image pulled in {:.0?}",
            base_started.elapsed()
        )),
        BaseOrigin::Bootstrapped { tool, seconds } => {
            status(format!("base image created with {tool} in {seconds}s"))
        }
    }
    let mut jobs = Vec::new();
    let mut needed: BTreeSet<ServiceKind> = BTreeSet::new();
    for selection in selections {
        let dp = &selection.datapoint;
        let id = dp.spec.id.clone();
        let files = DatapointFiles::read(dp).map_err(|source| SessionError::Datapoint {
            path: dp.dir.display().to_string(),
            source,
        })?;
        let hash = files.content_hash();
        if let Some(previous) = manifest.datapoints.get(&id) {
            if previous != &hash {
                warn(format!(
                    "datapoint {id} changed since this run started; new trials use the current version"
                ));
            }
        }
        manifest.datapoints.insert(id.clone(), hash);
        let log_path = layout.path(&format!("logs/images/{id}.log"));
        let image = build_image_logged(engine, dp, &files, &base.id, &log_path, &status).await?;
        needed.extend(dp.spec.services.iter().copied());
        let hidden_tests =
            pack_hidden_tests(&files.hidden_tests()).map_err(|source| SessionError::Datapoint {
                path: dp.hidden_tests_dir().display().to_string(),
                source,
            })?;
        let dp_weights: Option<Arc<Weights>> = weights.get(&id).cloned().map(Arc::new);
        if dp_weights.is_none() {
            warn(format!(
                "no weights for {id} in {}; its tests are recorded but not scored",
                weights.dir.display()
            ));
        }
        let candidates = store_candidates(&layout, &mut manifest, &id, &selection.candidates)?;
        jobs.push(Job {
            datapoint: Arc::new(dp.clone()),
            weights: dp_weights,
            image,
            hidden_tests: Arc::new(hidden_tests),
            candidates,
        });
    }

    let mut on_line = |line: &str| status(format!("  services: {line}"));
    let images = pod_images(engine, &options.services, &needed, &mut on_line).await?;
    let external = External::connect(&options.services, &needed).await?;
    if let Some(external) = &external {
        warn(format!(
            "external services ({}) are in use: trials get a route off the host to reach them and are isolated from each other by names only (see docs/services.md)",
            external.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let template = PodTemplate {
        images,
        external: external.as_ref().map(External::kinds).unwrap_or_default(),
        service_limits: ServiceLimits::default(),
        ready_timeout: options.services.ready_timeout,
    };
    let executor = match &options.cluster {
        None => Executor::Local(Local::new(
            engine.clone(),
            external.map(|e| Arc::new(e) as Arc<dyn Provision>),
        )),
        Some(cluster) => {
            if external.is_some() {
                return Err(SessionError::Unsupported(
                    "external services cannot be used with --cluster swarm: the swarm's pods have their services inside (unset RACEBENCH_*_URL)".into(),
                ));
            }
            let manager = Manager::connect(&cluster.manager).await?;
            let images = push_images(engine, &cluster.registry, &jobs, &template, &status).await?;
            Executor::Swarm(Swarm::new(manager, images))
        }
    };
    Ok(Prepared {
        layout,
        manifest,
        jobs,
        executor,
        template,
    })
}

/// Pushes each datapoint image and service image of the run to the registry
/// once, by digest; the tags the push left on the local engine are taken off.
async fn push_images(
    engine: &Engine,
    registry: &str,
    jobs: &[Job],
    template: &PodTemplate,
    status: &dyn Fn(String),
) -> Result<SwarmImages, SessionError> {
    let datapoints: Vec<(String, String)> = jobs
        .iter()
        .map(|j| (j.image.clone(), j.datapoint.id().to_string()))
        .collect();
    push_pod_images(engine, registry, &datapoints, template, false, status).await
}

/// Pushes the images of pods on a swarm to `registry`, each once, by digest:
/// the datapoint images (`(local tag, datapoint id)`), the service images of
/// `template`, and with `base` the base image (an agent sandbox's collector
/// and clean tasks run it). The tags a push leaves on the local engine are
/// taken off again.
pub async fn push_pod_images(
    engine: &Engine,
    registry: &str,
    datapoints: &[(String, String)],
    template: &PodTemplate,
    base: bool,
    status: &dyn Fn(String),
) -> Result<SwarmImages, SessionError> {
    let mut images = SwarmImages::default();
    let mut wanted: Vec<(String, String)> = datapoints
        .iter()
        .map(|(image, id)| (image.clone(), format!("racebench/dp-{id}")))
        .collect();
    for (kind, image) in &template.images {
        wanted.push((image.clone(), format!("racebench/{}", kind.as_str())));
    }
    if base {
        wanted.push((BASE_IMAGE.to_string(), "racebench/base".to_string()));
    }
    for (image, repo) in wanted {
        if images.datapoints.contains_key(&image) {
            continue;
        }
        let started = Instant::now();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
        let tag = if tag.contains('/') { "latest" } else { tag };
        let pushed = engine
            .push(&image, registry, &repo, tag)
            .await
            .map_err(|e| SessionError::Push {
                image: image.clone(),
                registry: registry.to_string(),
                message: e.to_string(),
            })?;
        if let Err(e) = engine
            .remove_image(&format!("{registry}/{repo}:{tag}"))
            .await
        {
            tracing::debug!("the pushed tag stays on the local engine: {e}");
        }
        status(format!(
            "pushed {image} as {pushed} in {:.1?}",
            started.elapsed()
        ));
        images.datapoints.insert(image, pushed);
    }
    for (kind, image) in &template.images {
        if let Some(pushed) = images.datapoints.get(image) {
            images.services.insert(*kind, pushed.clone());
        }
    }
    if base {
        images.base = images.datapoints.get(BASE_IMAGE).cloned();
    }
    Ok(images)
}

/// After a swarm run: whatever still carries the run's label (a guard that
/// could not finish its removal) is removed, and the user told.
pub async fn sweep_run_on_swarm(
    swarm: &Swarm,
    run_id: &str,
    keep: bool,
    say: &dyn Fn(SessionEvent),
) {
    for node in swarm.lost_nodes() {
        say(SessionEvent::Warning(format!(
            "swarm node {node} was lost during the run; its trials were run again on other nodes"
        )));
    }
    if keep {
        return;
    }
    let label = format!("{}={run_id}", labels::RUN);
    match swarm
        .manager()
        .remove_labelled(&label, Duration::from_secs(30))
        .await
    {
        Ok(removed) if removed == Default::default() => {}
        Ok(removed) => say(SessionEvent::Status(format!(
            "removed what the run left on the swarm: {removed:?}"
        ))),
        Err(e) => say(SessionEvent::Warning(format!(
            "objects of this run may be left on the swarm ({e}); `racebench clean --cluster` removes them"
        ))),
    }
}

/// Stores each candidate's patch in the run folder and lists it in the manifest.
fn store_candidates(
    layout: &RunLayout,
    manifest: &mut RunManifest,
    datapoint: &str,
    selected: &[CandidatePatch],
) -> Result<Vec<CandidatePatch>, SessionError> {
    let mut candidates = Vec::new();
    for cand in selected {
        let mut candidate: Candidate = cand.candidate.clone();
        if let Some(patch) = &cand.patch {
            let rel = RunLayout::patch_rel(datapoint, &candidate.id);
            results::write_atomic(&layout.path(&rel), patch.as_bytes())?;
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
    Ok(candidates)
}

/// Builds or reuses a datapoint image, keeping the build output in a log file.
async fn build_image_logged(
    engine: &Engine,
    dp: &Datapoint,
    files: &DatapointFiles,
    base_id: &str,
    log_path: &Path,
    status: &dyn Fn(String),
) -> Result<String, SessionError> {
    let id = &dp.spec.id;
    let io = |source| SessionError::Io {
        path: log_path.display().to_string(),
        source,
    };
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut log = std::fs::File::create(log_path).map_err(io)?;
    let started = Instant::now();
    let image = ensure_datapoint_image(engine, dp, &files.image_context(), base_id, |line| {
        let _ = writeln!(log, "{line}");
    })
    .await
    .map_err(|source| SessionError::Image {
        datapoint: id.clone(),
        log: log_path.display().to_string(),
        source,
    })?;
    match image.provenance {
        Provenance::Reused => status(format!("image {} (reused)", image.tag)),
        Provenance::Built => status(format!(
            "image {} built in {:.1?}",
            image.tag,
            started.elapsed()
        )),
    }
    Ok(image.tag)
}

/// Removes the pod containers and networks whose racebench process (on this
/// host) is gone; returns how many.
pub async fn sweep_dead_pods(engine: &Engine) -> Result<usize, EngineError> {
    let mut removed = 0;
    for c in engine.containers_with_label(labels::POD).await? {
        if labels::owner_is_gone(&c.labels) && !labels::is_kept(&c.labels) {
            engine.remove_container(&c.id).await?;
            removed += 1;
        }
    }
    for n in engine.networks_with_label(labels::POD).await? {
        if labels::owner_is_gone(&n.labels) && !labels::is_kept(&n.labels) {
            crate::guard::remove_network_fully(engine, &n.id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
