//! A run: many trials of many candidates on many datapoints, `jobs` at a
//! time, written to a results folder as they finish. One scheduler loop
//! selects over finished trials, interrupts and the grace timer; trials are
//! independent tasks that only report back.
//!
//! First interrupt: start nothing new, let running trials finish within the
//! grace period, then kill them. Second interrupt: kill now. Either way every
//! trial removes what it created and the run is marked `cancelled`, so
//! `racebench run --resume` can finish it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use racebench_model::{
    Candidate, Datapoint, RunLayout, RunManifest, RunStatus, TrialRecord, Verdict, Weights,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::executor::Executor;
use crate::results::{self, ResultsError};
use crate::trial::{PodTemplate, PreparedPod, TrialKey, TrialPlan};

/// A candidate with its patch text.
#[derive(Debug, Clone)]
pub struct CandidatePatch {
    pub candidate: Candidate,
    pub patch: Option<Arc<String>>,
}

/// One datapoint, ready to run: its image, weights, hidden tests and candidates.
#[derive(Clone)]
pub struct Job {
    pub datapoint: Arc<Datapoint>,
    pub weights: Option<Arc<Weights>>,
    pub image: String,
    pub hidden_tests: Arc<Vec<u8>>,
    pub candidates: Vec<CandidatePatch>,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub layout: RunLayout,
    pub run_id: String,
    pub trials: u32,
    pub jobs: usize,
    pub keep: bool,
    /// How long running trials may go on after the first interrupt.
    pub grace: Duration,
    /// The services part of every trial's pod.
    pub pod: Arc<PodTemplate>,
    /// How many times a trial that ended in an infrastructure error is run
    /// again (in a fresh pod) before its error is recorded as final.
    pub retries: u32,
}

/// Progress, for the user interface to show.
#[derive(Debug, Clone)]
pub enum RunEvent {
    TrialStarted {
        key: TrialKey,
    },
    TrialFinished {
        record: Box<TrialRecord>,
        done: usize,
        total: usize,
    },
    /// First interrupt (`hard = false`) or the kill (`hard = true`).
    Interrupted {
        hard: bool,
        running: usize,
    },
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    pub status: RunStatus,
    /// Records of the trials this invocation ran (not those skipped on resume).
    pub records: Vec<TrialRecord>,
    /// Trials already done before (resume).
    pub skipped: usize,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Runs every trial not already done, writing records and the manifest.
pub async fn run(
    executor: &Executor,
    config: &RunConfig,
    jobs: &[Job],
    mut manifest: RunManifest,
    mut interrupts: mpsc::UnboundedReceiver<()>,
    events: mpsc::UnboundedSender<RunEvent>,
) -> Result<RunOutcome, RunError> {
    manifest.status = RunStatus::Running;
    manifest.finished_at = None;
    results::write_manifest(&config.layout, &manifest)?;

    let mut queue = VecDeque::new();
    let mut skipped = 0;
    // Trial-major order, so early results cover every candidate.
    for trial in 1..=config.trials {
        for job in jobs {
            for cand in &job.candidates {
                if results::trial_done(
                    &config.layout,
                    job.datapoint.id(),
                    &cand.candidate.id,
                    trial,
                ) {
                    skipped += 1;
                    continue;
                }
                queue.push_back(TrialPlan {
                    run_id: config.run_id.clone(),
                    datapoint: job.datapoint.clone(),
                    weights: job.weights.clone(),
                    image: job.image.clone(),
                    candidate: cand.candidate.clone(),
                    patch: cand.patch.clone(),
                    hidden_tests: job.hidden_tests.clone(),
                    trial,
                    layout: config.layout.clone(),
                    pod: config.pod.clone(),
                    keep: config.keep,
                    earlier_attempts: Vec::new(),
                });
            }
        }
    }
    let mut total = queue.len();
    // The plan of each running trial, so an infrastructure error can be retried.
    let mut plans: HashMap<TrialKey, TrialPlan> = HashMap::new();
    let kill = CancellationToken::new();
    let mut set: JoinSet<TrialRecord> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, TrialKey> = HashMap::new();
    let mut records = Vec::new();
    let mut stop_starting = false;
    let mut interrupted = false;
    let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut interrupts_open = true;
    let mut write_error = None;
    // Pods of the next trials, started while earlier trials run: one per job
    // slot, so a trial's pod is (usually) ready when its slot frees up.
    let mut warm: HashMap<TrialKey, tokio::task::JoinHandle<PreparedPod>> = HashMap::new();

    loop {
        while !stop_starting && set.len() < config.jobs.max(1) {
            let Some(plan) = queue.pop_front() else { break };
            let key = plan.key();
            let _ = events.send(RunEvent::TrialStarted { key: key.clone() });
            let executor = executor.clone();
            let kill = kill.clone();
            let prepared = warm.remove(&key);
            plans.insert(key.clone(), plan.clone());
            let handle = set.spawn(async move {
                let prepared = match prepared {
                    Some(handle) => handle.await.ok(),
                    None => None,
                };
                executor.run_trial(&plan, prepared, &kill).await
            });
            running.insert(handle.id(), key);
        }
        if let (false, Some(local)) = (stop_starting, executor.prepares_ahead()) {
            for plan in queue.iter().take(config.jobs.max(1)) {
                warm.entry(plan.key()).or_insert_with(|| {
                    let local = local.clone();
                    let plan = plan.clone();
                    tokio::spawn(async move { local.prepare(&plan).await })
                });
            }
        } else if !warm.is_empty() {
            discard(std::mem::take(&mut warm)).await;
        }
        if set.is_empty() {
            break;
        }
        tokio::select! {
            joined = set.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (key, record) = match joined {
                    Ok((id, record)) => {
                        (running.remove(&id).expect("every task is tracked"), record)
                    }
                    Err(e) => {
                        let key = running.remove(&e.id()).expect("every task is tracked");
                        let record = crashed_record(&key, &e.to_string());
                        (key, record)
                    }
                };
                let plan = plans.remove(&key);
                // Racebench's failure, not the candidate's: run it again in a
                // fresh pod, up to the retry budget. The record of this
                // attempt is written anyway, so a run killed now resumes it.
                if let Some(mut plan) = plan.filter(|p| {
                    record.verdict == Verdict::InfraError
                        && !stop_starting
                        && (p.earlier_attempts.len() as u32) < config.retries
                }) {
                    plan.earlier_attempts
                        .push(record.error.clone().unwrap_or_else(|| "infrastructure error".into()));
                    tracing::warn!(trial = %key, attempt = plan.earlier_attempts.len() + 1,
                        "retrying after an infrastructure error: {}", record.error.as_deref().unwrap_or(""));
                    if let Err(e) = results::write_trial(&config.layout, &record) {
                        stop_starting = true;
                        write_error.get_or_insert(e);
                    }
                    total += 1;
                    queue.push_back(plan);
                    continue;
                }
                if let Err(e) = results::write_trial(&config.layout, &record) {
                    // Without a place to write, stop starting; finish what runs.
                    stop_starting = true;
                    write_error.get_or_insert(e);
                }
                records.push(record.clone());
                let _ = events.send(RunEvent::TrialFinished { record: Box::new(record), done: records.len(), total });
            }
            signal = interrupts.recv(), if interrupts_open => {
                match signal {
                    None => interrupts_open = false,
                    Some(()) if !interrupted => {
                        interrupted = true;
                        stop_starting = true;
                        grace = Some(Box::pin(tokio::time::sleep(config.grace)));
                        let _ = events.send(RunEvent::Interrupted { hard: false, running: set.len() });
                    }
                    Some(()) => {
                        kill.cancel();
                        grace = None;
                        let _ = events.send(RunEvent::Interrupted { hard: true, running: set.len() });
                    }
                }
            }
            _ = async { grace.as_mut().expect("guarded").await }, if grace.is_some() => {
                grace = None;
                kill.cancel();
                let _ = events.send(RunEvent::Interrupted { hard: true, running: set.len() });
            }
        }
    }

    discard(warm).await;
    let interrupted = interrupted || records.iter().any(|r| r.verdict == Verdict::Cancelled);
    manifest.status = if write_error.is_some() {
        RunStatus::Failed
    } else if interrupted {
        RunStatus::Cancelled
    } else {
        RunStatus::Completed
    };
    manifest.finished_at = Some(now());
    results::write_manifest(&config.layout, &manifest)?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    Ok(RunOutcome {
        status: manifest.status,
        records,
        skipped,
    })
}

/// Removes the pods prepared for trials that will not run.
async fn discard(warm: HashMap<TrialKey, tokio::task::JoinHandle<PreparedPod>>) {
    for (_, handle) in warm {
        if let Ok(prepared) = handle.await {
            prepared.discard().await;
        }
    }
}

/// A record for a trial whose task died (a bug in racebench, never the candidate's fault).
fn crashed_record(key: &TrialKey, why: &str) -> TrialRecord {
    let mut record = TrialRecord::begin(
        &key.run_id,
        &key.datapoint,
        &key.candidate,
        key.trial,
        racebench_model::PatchReport {
            method: None,
            ..racebench_model::PatchReport::none()
        },
        now(),
    );
    record.error = Some(format!("the trial task failed: {why}"));
    record
}

/// The current time as RFC 3339, as records store it.
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// A new run id: UTC time and a short random suffix, e.g. `20261123-154210-3fa9`.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%d-%H%M%S");
    let nanos = now.subsec_nanosecond() as u32 ^ std::process::id().rotate_left(16);
    format!("{stamp}-{:04x}", nanos & 0xffff)
}
