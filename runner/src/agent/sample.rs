//! One sample: a fresh sandbox, the agent's setup and command bounded by its
//! wall-clock limit, every process of the agent stopped, the diff taken, and
//! the sample's files written to the results folder (`agents/<datapoint>/
//! <candidate>/`: `agent.json`, `agent.log`, `setup.log`, `fix.diff`,
//! `out/`, `sandbox/<events file>`). Whatever happens, the outcome is an
//! [`AgentRecord`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racebench_model::{AgentEnd, AgentRecord, AgentUsage, Datapoint, AGENT_RECORD_FORMAT};
use tokio_util::sync::CancellationToken;

use super::spec::{AgentKind, AgentSpec};
use crate::archive::{self, FileSet};
use crate::engine::{Engine, ExecOutput};
use crate::executor::Swarm;
use crate::labels;
use crate::sandbox::{Finished, Sandbox, SandboxSpec, AGENT_DIR};
use crate::trial::PodTemplate;

/// Where samples' sandboxes run.
#[derive(Clone)]
pub enum SampleHost {
    /// This machine's engine.
    Local(Engine),
    /// A swarm; `engine` is the local engine that built and pushed the
    /// images (racebench's pristine copy of a work tree comes from it).
    Swarm { engine: Engine, swarm: Swarm },
}

/// Everything one sample needs.
#[derive(Clone)]
pub struct SamplePlan {
    pub run_id: String,
    pub datapoint: Arc<Datapoint>,
    pub image: String,
    pub pod: Arc<PodTemplate>,
    pub agent: Arc<AgentSpec>,
    /// 0-based.
    pub sample: u32,
    /// The sample's folder in the results folder.
    pub dir: PathBuf,
    /// Leave the sandbox in place for debugging.
    pub keep: bool,
    /// On a swarm: times a sandbox whose node was lost is made again elsewhere.
    pub retries: u32,
}

impl SamplePlan {
    /// The candidate the sample's diff becomes.
    pub fn candidate(&self) -> String {
        candidate_id(&self.agent.name, self.sample)
    }
}

/// `<agent>-s<n>` (1-based), path-safe.
pub fn candidate_id(agent: &str, sample: u32) -> String {
    format!(
        "{}-s{}",
        racebench_model::candidate::slug(agent),
        sample + 1
    )
}

/// What a sample came to: its record and the diff text.
pub struct SampleOutcome {
    pub record: AgentRecord,
    pub diff: String,
}

/// Runs one sample to a record; the sandbox is removed on every path.
pub async fn run_sample(
    host: &SampleHost,
    plan: &SamplePlan,
    kill: &CancellationToken,
) -> SampleOutcome {
    let started_at = jiff::Timestamp::now().to_string();
    let mut record = AgentRecord {
        format: AGENT_RECORD_FORMAT,
        agent: plan.agent.name.clone(),
        datapoint: plan.datapoint.spec.id.clone(),
        candidate: plan.candidate(),
        sample: plan.sample,
        end: AgentEnd::InfraError,
        exit_code: None,
        started_at,
        finished_at: String::new(),
        sandbox_ms: 0,
        agent_ms: 0,
        diff_ms: 0,
        files: Vec::new(),
        empty_diff: true,
        notes: Vec::new(),
        outputs: Vec::new(),
        usage: None,
        events: None,
        error: None,
    };
    let mut diff = String::new();
    if let Err(e) = std::fs::create_dir_all(&plan.dir) {
        record.error = Some(format!("failed to create {}: {e}", plan.dir.display()));
    } else {
        let steps = match host {
            SampleHost::Local(engine) => {
                sample_steps(engine, plan, kill, &mut record, &mut diff).await
            }
            SampleHost::Swarm { engine, swarm } => {
                super::swarm_sample::swarm_sample_steps(
                    engine,
                    swarm,
                    plan,
                    kill,
                    &mut record,
                    &mut diff,
                )
                .await
            }
        };
        if let Err(e) = steps {
            record.error = Some(e);
        }
    }
    record.finished_at = jiff::Timestamp::now().to_string();
    SampleOutcome { record, diff }
}

async fn sample_steps(
    engine: &Engine,
    plan: &SamplePlan,
    kill: &CancellationToken,
    record: &mut AgentRecord,
    diff: &mut String,
) -> Result<(), String> {
    let dp = &plan.datapoint;
    let spec = sandbox_spec(plan)?;
    let t = Instant::now();
    let mut sandbox = tokio::select! {
        s = Sandbox::start(engine, &spec) => s.map_err(|e| chain(&e))?,
        _ = kill.cancelled() => {
            record.end = AgentEnd::Cancelled;
            return Err("the run was interrupted".into());
        }
    };
    record.sandbox_ms = ms(t.elapsed());
    sandbox.keep(plan.keep);
    let result = async {
        let t = Instant::now();
        let ran = run_agent(&sandbox, plan, dp, kill, record).await;
        record.agent_ms = ms(t.elapsed());
        ran?;
        let t = Instant::now();
        let finished = sandbox.stop_and_take().await.map_err(|e| chain(&e))?;
        record.diff_ms = ms(t.elapsed());
        keep_finished(plan, dp, finished, record, diff)?;
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = sandbox.remove().await {
        tracing::warn!("{}", chain(&e));
    }
    result
}

/// Records what an agent left (diff, outputs, events file) and writes
/// `fix.diff`, `out/` and `sandbox/<events file>`.
pub(super) fn keep_finished(
    plan: &SamplePlan,
    dp: &Datapoint,
    finished: Finished,
    record: &mut AgentRecord,
    diff: &mut String,
) -> Result<(), String> {
    record.files = finished.diff.files.clone();
    record.notes = finished.diff.notes.clone();
    record.empty_diff = finished.diff.text.is_empty();
    *diff = finished.diff.text;
    write(&plan.dir.join("fix.diff"), diff.as_bytes())?;
    if let Some((tar, cut)) = finished.outputs {
        let done = archive::extract(
            &tar,
            &plan.dir.join("out"),
            crate::sandbox::OUTPUTS_LIMIT as u64,
            true,
        )
        .map_err(|e| format!("failed to write the agent's outputs: {e}"))?;
        record.outputs = done.written.iter().map(|p| format!("out/{p}")).collect();
        if cut || !done.skipped.is_empty() {
            record.notes.push(format!(
                "the agent's outputs passed {} MiB; the rest was not kept",
                crate::sandbox::OUTPUTS_LIMIT / 1024 / 1024
            ));
        }
        record.usage = read_usage(&plan.dir.join("out/usage.json"));
    }
    if let (Some((tar, cut)), Some(events)) = (finished.events, &dp.spec.events) {
        record.events = keep_events(&tar, cut, &plan.dir, events, &mut record.notes)?;
    }
    Ok(())
}

/// The files an agent brings, by file name.
pub(super) fn agent_files(agent: &AgentSpec) -> Result<Vec<(String, Vec<u8>)>, String> {
    agent
        .files
        .iter()
        .map(|path| {
            let data = std::fs::read(path)
                .map_err(|e| format!("failed to read the agent file {}: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            Ok((name, data))
        })
        .collect()
}

/// What the `oracle` agent runs: the reference patch, brought as an agent file.
pub(super) fn oracle_command() -> String {
    format!("git apply --verbose {AGENT_DIR}/reference.patch && rm -f {AGENT_DIR}/reference.patch")
}

/// `agent.log` of an agent stopped at its limit.
pub(super) fn timed_out_log(limit: Duration) -> String {
    format!(
        "racebench: the agent ran longer than {}s and was stopped (its output is not captured past the limit)\n",
        limit.as_secs()
    )
}

/// Runs the setup and the agent; sets `end` and `exit_code`.
async fn run_agent(
    sandbox: &Sandbox,
    plan: &SamplePlan,
    dp: &Datapoint,
    kill: &CancellationToken,
    record: &mut AgentRecord,
) -> Result<(), String> {
    let agent = &plan.agent;
    let env = agent_env(agent);
    let mut files = FileSet::new();
    for (name, data) in agent_files(agent)? {
        files.add(&name, data, 0o755);
    }
    let command = match &agent.kind {
        AgentKind::Nop => {
            record.end = AgentEnd::Exited;
            record.exit_code = Some(0);
            write(&plan.dir.join("agent.log"), b"nop: changed nothing\n")?;
            return Ok(());
        }
        AgentKind::Oracle => {
            let patch = std::fs::read(dp.reference_patch())
                .map_err(|e| format!("failed to read the reference patch: {e}"))?;
            files.add("reference.patch", patch, 0o644);
            oracle_command()
        }
        AgentKind::Command { command, setup } => {
            if !files.is_empty() {
                sandbox
                    .put_files(AGENT_DIR, &files)
                    .await
                    .map_err(|e| chain(&e))?;
                files = FileSet::new();
            }
            if let Some(setup) = setup {
                let out = bounded(sandbox, setup, &env, agent.timeout(), kill).await?;
                let Some(out) = out else {
                    record.end = AgentEnd::SetupFailed;
                    return Err(format!(
                        "the setup step ran longer than {}s",
                        agent.timeout().as_secs()
                    ));
                };
                write(&plan.dir.join("setup.log"), &log_text(&out))?;
                if out.exit_code != Some(0) {
                    record.end = AgentEnd::SetupFailed;
                    record.exit_code = out.exit_code;
                    return Err(format!(
                        "the setup step exited with {} (see setup.log)",
                        out.exit_code.map(|c| c.to_string()).unwrap_or("?".into())
                    ));
                }
            }
            command.clone()
        }
    };
    if !files.is_empty() {
        sandbox
            .put_files(AGENT_DIR, &files)
            .await
            .map_err(|e| chain(&e))?;
    }
    match bounded(sandbox, &command, &env, agent.timeout(), kill).await {
        Ok(Some(out)) => {
            write(&plan.dir.join("agent.log"), &log_text(&out))?;
            record.end = AgentEnd::Exited;
            record.exit_code = out.exit_code;
        }
        Ok(None) => {
            write(
                &plan.dir.join("agent.log"),
                timed_out_log(agent.timeout()).as_bytes(),
            )?;
            record.end = AgentEnd::TimedOut;
        }
        Err(e) => {
            if kill.is_cancelled() {
                record.end = AgentEnd::Cancelled;
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `sh -c COMMAND` in the sandbox; `None` when it ran past `limit`.
async fn bounded(
    sandbox: &Sandbox,
    command: &str,
    env: &[(String, String)],
    limit: Duration,
    kill: &CancellationToken,
) -> Result<Option<ExecOutput>, String> {
    let cmd = vec!["sh".to_string(), "-c".to_string(), command.to_string()];
    tokio::select! {
        out = sandbox.exec(&cmd, env) => out.map(Some).map_err(|e| chain(&e)),
        _ = tokio::time::sleep(limit) => Ok(None),
        _ = kill.cancelled() => Err("the run was interrupted".into()),
    }
}

pub(super) fn agent_env(agent: &AgentSpec) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = agent
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for name in &agent.pass_env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    env
}

pub(super) fn sandbox_spec(plan: &SamplePlan) -> Result<SandboxSpec, String> {
    let dp = &plan.datapoint;
    let prompt_path = dp.dir.join(&dp.spec.prompt);
    let prompt = std::fs::read_to_string(&prompt_path)
        .map_err(|e| format!("failed to read the prompt {}: {e}", prompt_path.display()))?;
    let candidate = plan.candidate();
    let mut name = format!(
        "rb-{}-{}-{}-{}",
        plan.run_id,
        dp.spec.id,
        candidate,
        &crate::pod::secret()[..6]
    );
    name.retain(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    name.truncate(90);
    Ok(SandboxSpec {
        name,
        labels: labels::for_trial(&plan.run_id, &dp.spec.id, &candidate, 0, "sandbox"),
        datapoint: dp.clone(),
        image: plan.image.clone(),
        pod: plan.pod.clone(),
        network: plan.agent.network(),
        prompt,
        tools: super::tools::visible_tools(dp).map_err(|e| e.to_string())?,
        env: Vec::new(),
    })
}

/// The folder of a sample's folder that keeps the sandbox's events file.
const SANDBOX_EVENTS_FOLDER: &str = "sandbox";

/// Writes the sandbox's events file (`events`, as a tar of one file) to
/// [`SANDBOX_EVENTS_FOLDER`] of the sample's folder and returns its path
/// there; none when it was cut at the cap (noted) or is not a file.
fn keep_events(
    tar: &[u8],
    cut: bool,
    dir: &Path,
    events: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let limit = crate::sandbox::EVENTS_LIMIT;
    if cut {
        notes.push(format!(
            "the sandbox's events file passed {} MiB; it was not kept",
            limit / 1024 / 1024
        ));
        return Ok(None);
    }
    let done = archive::extract(tar, &dir.join(SANDBOX_EVENTS_FOLDER), limit as u64, false)
        .map_err(|e| format!("failed to write the sandbox's events file: {e}"))?;
    let name = Path::new(events)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(done
        .written
        .iter()
        .find(|w| **w == name)
        .map(|w| format!("{SANDBOX_EVENTS_FOLDER}/{w}")))
}

fn read_usage(path: &Path) -> Option<AgentUsage> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn log_text(out: &ExecOutput) -> Vec<u8> {
    let mut text = out.stdout.clone();
    text.extend_from_slice(&out.stderr);
    text
}

pub(super) fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("failed to write {}: {e}", path.display()))
}

pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// An error and its sources, as one line.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut set = FileSet::new();
        set.add(name, data.to_vec(), 0o644);
        set.to_tar().unwrap()
    }

    #[test]
    fn the_sandbox_events_file_is_kept_beside_the_record() {
        let tmp = tempfile::tempdir().unwrap();
        let mut notes = Vec::new();
        let tar = tar_of("events.jsonl", b"{\"at_us\": 1}\n");
        let kept = keep_events(
            &tar,
            false,
            tmp.path(),
            "/racebench/out/events.jsonl",
            &mut notes,
        );
        assert_eq!(kept.unwrap().as_deref(), Some("sandbox/events.jsonl"));
        assert_eq!(
            std::fs::read(tmp.path().join("sandbox/events.jsonl")).unwrap(),
            b"{\"at_us\": 1}\n"
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn an_events_file_cut_at_the_cap_is_noted_not_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let mut notes = Vec::new();
        let tar = tar_of("events.jsonl", b"{}\n");
        let kept = keep_events(
            &tar,
            true,
            tmp.path(),
            "/racebench/out/events.jsonl",
            &mut notes,
        );
        assert_eq!(kept.unwrap(), None);
        assert!(notes[0].contains("was not kept"), "{notes:?}");
        // An agent that made the events path a folder leaves no events file.
        let tar = tar_of("events.jsonl/inner", b"{}\n");
        let kept = keep_events(
            &tar,
            false,
            tmp.path(),
            "/racebench/out/events.jsonl",
            &mut notes,
        );
        assert_eq!(kept.unwrap(), None);
    }
}
