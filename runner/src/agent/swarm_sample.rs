//! One sample in a sandbox on a swarm (`executor::Swarm::run_sandbox`): the
//! sandbox runs the setup and the agent itself, a collector hands back what
//! it left, and the same record is made of it as locally (`end`, exit code,
//! `setup.log`, `agent.log`, the diff taken from racebench's pristine tree
//! and the collected one, outputs, events file).

use std::time::{Duration, Instant};

use racebench_model::{AgentEnd, AgentRecord};
use tokio_util::sync::CancellationToken;

use super::sample::{
    agent_env, agent_files, chain, keep_finished, ms, oracle_command, sandbox_spec, timed_out_log,
    write, SamplePlan,
};
use super::spec::AgentKind;
use crate::engine::Engine;
use crate::executor::{SandboxFailure, Swarm, SwarmSandboxSpec};
use crate::sandbox::{
    diff_trees, sandbox_env, sandbox_files, step, Collected, Finished, SandboxError, Tree,
    AGENT_DIR, TREE_LIMIT,
};

/// One sample in a sandbox on a swarm: the sandbox runs the setup and the
/// agent itself, a collector hands back what it left, and the same record
/// is made of it as locally, the diff taken the same way.
pub(super) async fn swarm_sample_steps(
    engine: &Engine,
    swarm: &Swarm,
    plan: &SamplePlan,
    kill: &CancellationToken,
    record: &mut AgentRecord,
    diff: &mut String,
) -> Result<(), String> {
    let dp = &plan.datapoint;
    let agent = &plan.agent;
    let spec = sandbox_spec(plan)?;
    let mut files = sandbox_files(&spec);
    for (name, data) in agent_files(agent)? {
        files.add(
            &format!("{}/{name}", AGENT_DIR.trim_start_matches('/')),
            data,
            0o755,
        );
    }
    let (setup, command) = match &agent.kind {
        AgentKind::Nop => (None, None),
        AgentKind::Oracle => {
            let patch = std::fs::read(dp.reference_patch())
                .map_err(|e| format!("failed to read the reference patch: {e}"))?;
            files.add(
                &format!("{}/reference.patch", AGENT_DIR.trim_start_matches('/')),
                patch,
                0o644,
            );
            (None, Some(oracle_command()))
        }
        AgentKind::Command { command, setup } => (setup.clone(), Some(command.clone())),
    };
    let swarm_spec = SwarmSandboxSpec {
        run_id: plan.run_id.clone(),
        datapoint: dp.clone(),
        image: plan.image.clone(),
        candidate: plan.candidate(),
        sample: plan.sample,
        egress: spec.network == crate::sandbox::AgentNetwork::Egress,
        env: sandbox_env(&spec),
        agent_env: agent_env(agent),
        files,
        setup: setup.clone(),
        command: command.clone(),
        limit: agent.timeout(),
        pod: plan.pod.clone(),
        keep: plan.keep,
        retries: plan.retries,
    };
    let run = match swarm.run_sandbox(engine, &swarm_spec, kill).await {
        Ok(run) => run,
        Err(SandboxFailure::Cancelled) => {
            record.end = AgentEnd::Cancelled;
            return Err("the run was interrupted".into());
        }
        Err(SandboxFailure::Infra(why)) => return Err(why),
    };
    record.sandbox_ms = ms(run.sandbox);
    record.agent_ms = ms(run.agent);
    let c = &run.collected;
    let judged = judge(
        c,
        setup.is_some(),
        command.is_some(),
        run.stopped_at_limit,
        agent.timeout(),
    );
    let mut notes = run.notes.clone();
    notes.extend(judged.notes);
    record.end = judged.end;
    record.exit_code = judged.exit_code;
    if let Some(log) = &judged.setup_log {
        write(&plan.dir.join("setup.log"), log)?;
    }
    if let Some(log) = &judged.agent_log {
        write(&plan.dir.join("agent.log"), log)?;
    }
    if let Some(error) = judged.error {
        record.notes = notes;
        return Err(error);
    }
    let t = Instant::now();
    let Some(tar) = &c.tree else {
        record.notes = notes;
        return Err(chain(&SandboxError::TooLarge {
            path: dp.spec.workspace.path.clone(),
            limit_mb: TREE_LIMIT / 1024 / 1024,
        }));
    };
    let after = Tree::from_tar(tar).map_err(|source| {
        chain(&SandboxError::Tree {
            path: dp.spec.workspace.path.clone(),
            source,
        })
    })?;
    let finished = Finished {
        diff: diff_trees(&run.pristine, &after),
        outputs: c.outputs.clone(),
        events: c.events.clone(),
    };
    record.diff_ms = ms(run.collect + t.elapsed());
    keep_finished(plan, dp, finished, record, diff)?;
    record.notes.extend(notes);
    Ok(())
}

/// How a sandbox on a swarm ended, judged from what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Judged {
    end: AgentEnd,
    exit_code: Option<i64>,
    setup_log: Option<Vec<u8>>,
    agent_log: Option<Vec<u8>>,
    /// The sample stops here, no diff taken (as a local setup failure).
    error: Option<String>,
    notes: Vec<String>,
}

/// Judges the entrypoint's step records as the local sample judges its
/// execs. They were written in the agent's container: the records of the
/// steps before the agent's were written before the agent ran, so their
/// first lines are the entrypoint's; the agent's step is written after its
/// command ended, so its last line is. Whatever the agent rewrites beyond
/// that only changes its own sample's `end` and exit code, never the diff,
/// and never makes its sample an ungraded infrastructure error.
fn judge(
    c: &Collected,
    has_setup: bool,
    has_command: bool,
    stopped_at_limit: bool,
    limit: Duration,
) -> Judged {
    let mut j = Judged {
        end: AgentEnd::Exited,
        exit_code: None,
        setup_log: None,
        agent_log: None,
        error: None,
        notes: Vec::new(),
    };
    if c.steps_garbled {
        j.notes.push(
            "the sandbox's step records were changed in the sandbox; lines that did not read were left out"
                .into(),
        );
    }
    let failed = |name: &str| {
        c.first_step(name)
            .filter(|l| l.exit_code != 0 || l.timed_out)
    };
    if let Some(line) = failed(step::FILES).or_else(|| failed(step::INIT)) {
        j.end = AgentEnd::SetupFailed;
        j.exit_code = Some(line.exit_code);
        j.setup_log = Some(c.log(&line.name));
        j.error = Some(format!(
            "the sandbox was not ready for the agent: its {} step exited with {} (see setup.log)",
            line.name, line.exit_code
        ));
        return j;
    }
    let setup_late = || format!("the setup step ran longer than {}s", limit.as_secs());
    if has_setup {
        match c.first_step(step::SETUP) {
            Some(line) if line.timed_out => {
                j.end = AgentEnd::SetupFailed;
                j.error = Some(setup_late());
                return j;
            }
            Some(line) => {
                j.setup_log = Some(c.log(step::SETUP));
                if line.exit_code != 0 {
                    j.end = AgentEnd::SetupFailed;
                    j.exit_code = Some(line.exit_code);
                    j.error = Some(format!(
                        "the setup step exited with {} (see setup.log)",
                        line.exit_code
                    ));
                    return j;
                }
            }
            None if stopped_at_limit && c.step(step::AGENT).is_none() => {
                j.end = AgentEnd::SetupFailed;
                j.error = Some(setup_late());
                return j;
            }
            None => j.notes.push(
                "no record of the setup step came back (something in the sandbox removed it)"
                    .into(),
            ),
        }
    }
    match (has_command, c.step(step::AGENT)) {
        (false, _) => {
            j.exit_code = Some(0);
            j.agent_log = Some(b"nop: changed nothing\n".to_vec());
        }
        (true, Some(line)) if line.timed_out => {
            j.end = AgentEnd::TimedOut;
            j.agent_log = Some(timed_out_log(limit).into_bytes());
        }
        (true, _) if stopped_at_limit => {
            j.end = AgentEnd::TimedOut;
            j.agent_log = Some(timed_out_log(limit).into_bytes());
        }
        (true, Some(line)) => {
            j.exit_code = Some(line.exit_code);
            j.agent_log = Some(c.log(step::AGENT));
        }
        (true, None) => {
            j.notes.push(
                "no record of the agent's exit came back (something in the sandbox removed it)"
                    .into(),
            );
            j.agent_log = Some(c.log(step::AGENT));
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::StepLine;

    fn collected(steps: &[(&str, i64, bool)]) -> Collected {
        let mut c = Collected::default();
        for (name, exit_code, timed_out) in steps {
            c.steps.push(StepLine {
                name: name.to_string(),
                exit_code: *exit_code,
                millis: 5,
                timed_out: *timed_out,
            });
        }
        c.logs.insert("agent.stdout".into(), b"out\n".to_vec());
        c.logs.insert("agent.stderr".into(), b"err\n".to_vec());
        c.logs.insert("setup.stdout".into(), b"setup\n".to_vec());
        c.tree = Some(Vec::new());
        c
    }

    const LIMIT: Duration = Duration::from_secs(30);

    #[test]
    fn an_agent_that_exited_is_recorded_with_its_exit_code_and_log() {
        let c = collected(&[
            ("files", 0, false),
            ("init", 0, false),
            ("setup", 0, false),
            ("agent", 3, false),
        ]);
        let j = judge(&c, true, true, false, LIMIT);
        assert_eq!(
            (j.end, j.exit_code, j.error.clone()),
            (AgentEnd::Exited, Some(3), None)
        );
        assert_eq!(j.agent_log.as_deref(), Some(&b"out\nerr\n"[..]));
        assert_eq!(j.setup_log.as_deref(), Some(&b"setup\n"[..]));
        assert!(j.notes.is_empty());
    }

    #[test]
    fn records_the_agent_appends_change_nothing_it_could_gain_from() {
        // Appended by the agent before its command ended: a failed
        // preparation (which would make its sample look like the machine's
        // fault) and a better exit code; the entrypoint's lines win.
        let c = collected(&[
            ("files", 0, false),
            ("init", 0, false),
            ("files", 1, false),
            ("agent", 0, false),
            ("agent", 4, false),
        ]);
        let j = judge(&c, false, true, false, LIMIT);
        assert_eq!((j.end, j.exit_code), (AgentEnd::Exited, Some(4)));
        assert!(j.error.is_none());
    }

    #[test]
    fn setup_failures_and_time_limits_end_as_locally() {
        let c = collected(&[("files", 0, false), ("init", 0, false), ("setup", 2, false)]);
        let j = judge(&c, true, true, false, LIMIT);
        assert_eq!((j.end, j.exit_code), (AgentEnd::SetupFailed, Some(2)));
        assert_eq!(
            j.error.as_deref(),
            Some("the setup step exited with 2 (see setup.log)")
        );
        assert!(j.setup_log.is_some() && j.agent_log.is_none());

        let c = collected(&[
            ("files", 0, false),
            ("init", 0, false),
            ("setup", 137, true),
        ]);
        let j = judge(&c, true, true, false, LIMIT);
        assert_eq!(j.end, AgentEnd::SetupFailed);
        assert_eq!(
            j.error.as_deref(),
            Some("the setup step ran longer than 30s")
        );
        assert!(j.setup_log.is_none(), "as locally: no log past the limit");

        let c = collected(&[
            ("files", 0, false),
            ("init", 0, false),
            ("agent", 137, true),
        ]);
        let j = judge(&c, false, true, false, LIMIT);
        assert_eq!(
            (j.end, j.exit_code, j.error.clone()),
            (AgentEnd::TimedOut, None, None)
        );
        assert!(
            String::from_utf8_lossy(j.agent_log.as_deref().unwrap()).contains("longer than 30s")
        );

        // The entrypoint never ended: racebench stopped it at its own limit.
        let c = collected(&[("files", 0, false), ("init", 0, false)]);
        let j = judge(&c, false, true, true, LIMIT);
        assert_eq!(j.end, AgentEnd::TimedOut);
    }

    #[test]
    fn a_sandbox_that_was_not_prepared_fails_the_sample_not_the_run() {
        let c = collected(&[("files", 0, false), ("init", 128, false)]);
        let j = judge(&c, false, true, false, LIMIT);
        assert_eq!((j.end, j.exit_code), (AgentEnd::SetupFailed, Some(128)));
        assert!(j.error.unwrap().contains("its init step exited with 128"));
    }

    #[test]
    fn nop_and_missing_records() {
        let j = judge(
            &collected(&[("files", 0, false), ("init", 0, false)]),
            false,
            false,
            false,
            LIMIT,
        );
        assert_eq!((j.end, j.exit_code), (AgentEnd::Exited, Some(0)));
        assert_eq!(j.agent_log.as_deref(), Some(&b"nop: changed nothing\n"[..]));
        let mut c = collected(&[]);
        c.steps_garbled = true;
        let j = judge(&c, false, true, false, LIMIT);
        assert_eq!((j.end, j.exit_code), (AgentEnd::Exited, None));
        assert_eq!(j.notes.len(), 2, "{:?}", j.notes);
    }
}
