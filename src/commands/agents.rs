//! `racebench run --agent NAME`: every sample of every agent works in a
//! fresh sandbox of each datapoint; each diff then becomes a candidate
//! verified by the usual trials in the same results folder. `agent-run.json`
//! in that folder says what was asked, so `--resume` skips finished samples
//! and trials.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use racebench_grader::agent_board::agent_board;
use racebench_model::{
    AgentEnd, Candidate, CandidateKind, RunLayout, RunManifest, RunStatus, Verdict, RESULTS_FORMAT,
};
use racebench_runner::agent::{
    prepare_images, read_agents_file, run_samples, AgentKind, AgentSpec, SampleHost, SampleOutcome,
    SamplePlan,
};
use racebench_runner::cluster::Manager;
use racebench_runner::engine::Engine;
use racebench_runner::executor::Swarm;
use racebench_runner::run::CandidatePatch;
use racebench_runner::services::ServicesConfig;
use racebench_runner::session::{push_pod_images, sweep_run_on_swarm, SessionEvent};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::args::{AgentNetworkArg, AgentOptions, RunArgs};
use crate::commands::grade::summarize_run;
use crate::commands::launch::{cluster_options, launch, Selection};
use crate::commands::Context;
use crate::exit_code::{self, coded};
use crate::output;

/// What an agent run asked for, kept in its folder for `--resume`.
#[derive(Debug, Serialize, Deserialize)]
struct AgentRunPlan {
    agents: Vec<AgentSpec>,
    samples: u32,
    datapoints: Vec<String>,
}

const PLAN_FILE: &str = "agent-run.json";

/// Whether `resume` names the folder of an agent run.
pub fn is_agent_run(resume: Option<&Path>) -> bool {
    resume.is_some_and(|d| d.join(PLAN_FILE).is_file())
}

pub async fn run_agents(ctx: &Context, args: &RunArgs) -> anyhow::Result<i32> {
    let weights = ctx.weights()?;
    let mut options = args.options.clone();
    // A swarm that is not named is a usage error before anything is made.
    let cluster = cluster_options(&options)?;
    let (layout, mut manifest, plan) = match &args.resume {
        Some(dir) => {
            let layout = RunLayout::new(dir);
            let manifest = racebench_runner::results::read_manifest(&layout)?;
            let text = std::fs::read_to_string(dir.join(PLAN_FILE))?;
            let plan: AgentRunPlan = serde_json::from_str(&text)
                .with_context(|| format!("failed to read {}", dir.join(PLAN_FILE).display()))?;
            options.trials = manifest.trials;
            (layout, manifest, plan)
        }
        None => {
            let agents = resolve_agents(&args.agents)?;
            let datapoints = ctx
                .select(&args.datapoint_ids)?
                .iter()
                .map(|d| d.spec.id.clone())
                .collect();
            let run_id = racebench_runner::run::new_run_id();
            let layout = RunLayout::new(options.results.join(&run_id));
            std::fs::create_dir_all(layout.root())
                .with_context(|| format!("failed to create {}", layout.root().display()))?;
            let manifest = RunManifest {
                format: RESULTS_FORMAT,
                run_id,
                racebench_version: env!("CARGO_PKG_VERSION").to_string(),
                created_at: racebench_runner::run::now(),
                finished_at: None,
                status: RunStatus::Running,
                trials: options.trials,
                candidates: Vec::new(),
                datapoints: BTreeMap::new(),
            };
            racebench_runner::results::write_manifest(&layout, &manifest)?;
            let plan = AgentRunPlan {
                agents,
                samples: args.agents.samples,
                datapoints,
            };
            racebench_runner::results::write_atomic(
                &layout.path(PLAN_FILE),
                serde_json::to_string_pretty(&plan)?.as_bytes(),
            )?;
            (layout, manifest, plan)
        }
    };
    output::status(format!("results: {}", layout.root().display()));
    let datapoints = ctx.select(&plan.datapoints)?;
    let engine = Engine::connect().await?;
    let services = ServicesConfig::from_env()?;
    let say = |line: String| output::status(line);
    let (images, template) = prepare_images(
        &engine,
        &datapoints,
        &services,
        &layout.path("logs/images"),
        &say,
    )
    .await
    .map_err(|e| coded(exit_code::INFRA, e))?;
    // On a swarm, the sandboxes' images are pushed once, by digest, with the
    // base image their collector and clean tasks run.
    let host = match cluster {
        None => SampleHost::Local(engine.clone()),
        Some(cluster) => {
            let manager = Manager::connect(&cluster.manager)
                .await
                .map_err(|e| coded(exit_code::INFRA, e))?;
            let pushed: Vec<(String, String)> = images
                .iter()
                .map(|i| (i.image.clone(), i.datapoint.id().to_string()))
                .collect();
            let swarm_images =
                push_pod_images(&engine, &cluster.registry, &pushed, &template, true, &say)
                    .await
                    .map_err(|e| coded(exit_code::INFRA, e))?;
            SampleHost::Swarm {
                engine: engine.clone(),
                swarm: Swarm::new(manager, swarm_images),
            }
        }
    };
    let template = Arc::new(template);
    let agents: Vec<Arc<AgentSpec>> = plan.agents.iter().cloned().map(Arc::new).collect();
    let mut plans = Vec::new();
    for img in &images {
        for agent in &agents {
            for sample in 0..plan.samples {
                let candidate = racebench_runner::agent::candidate_id(&agent.name, sample);
                plans.push(SamplePlan {
                    run_id: manifest.run_id.clone(),
                    datapoint: img.datapoint.clone(),
                    image: img.image.clone(),
                    pod: template.clone(),
                    agent: agent.clone(),
                    sample,
                    dir: layout.path(&racebench_model::agent::agent_rel(
                        img.datapoint.id(),
                        &candidate,
                    )),
                    keep: options.keep,
                    retries: options.retries,
                });
            }
        }
    }
    let kill = CancellationToken::new();
    let watcher = {
        let kill = kill.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                output::status("interrupted: stopping the agents and removing their sandboxes");
                kill.cancel();
            }
        })
    };
    let total = plans.len();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let print = |o: &SampleOutcome, resumed: bool| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let r = &o.record;
        let detail = match &r.error {
            Some(e) => e.clone(),
            None if r.empty_diff => "empty diff".into(),
            None => format!("{} file(s) changed", r.files.len()),
        };
        output::status(format!(
            "[agent {n:>3}/{total}] {} {}: {} (exit {}; {}; sandbox {:.1}s, agent {:.1}s){}",
            r.datapoint,
            r.candidate,
            r.end.as_str(),
            r.exit_code.map(|c| c.to_string()).unwrap_or("-".into()),
            detail,
            r.sandbox_ms as f64 / 1000.0,
            r.agent_ms as f64 / 1000.0,
            if resumed { " (done before)" } else { "" }
        ));
    };
    let jobs = args.agents.agent_jobs.unwrap_or(options.jobs).max(1) as usize;
    let outcomes = run_samples(&host, plans, jobs, &kill, &print).await;
    watcher.abort();
    if let SampleHost::Swarm { swarm, .. } = &host {
        let say_event = |e: SessionEvent| match e {
            SessionEvent::Status(line) => output::status(line),
            SessionEvent::Warning(line) => output::warning(line),
            SessionEvent::Run(_) => {}
        };
        sweep_run_on_swarm(swarm, &manifest.run_id, options.keep, &say_event).await;
    }
    if kill.is_cancelled() {
        manifest.status = RunStatus::Cancelled;
        manifest.finished_at = Some(racebench_runner::run::now());
        racebench_runner::results::write_manifest(&layout, &manifest)?;
        output::status(format!(
            "run interrupted; finish it with: racebench run --resume {}",
            layout.root().display()
        ));
        return Ok(exit_code::INTERRUPTED);
    }
    let mut selections: Vec<Selection> = Vec::new();
    let mut unjudged = 0;
    for img in &images {
        let mut candidates = Vec::new();
        for o in outcomes
            .iter()
            .filter(|o| o.record.datapoint == img.datapoint.id())
        {
            if matches!(o.record.end, AgentEnd::InfraError | AgentEnd::Cancelled) {
                unjudged += 1;
                continue;
            }
            candidates.push(CandidatePatch {
                candidate: Candidate {
                    id: o.record.candidate.clone(),
                    kind: CandidateKind::Prediction,
                    datapoint: o.record.datapoint.clone(),
                    agent: Some(o.record.agent.clone()),
                    sample: Some(o.record.sample),
                    patch: None,
                    must_fail: Vec::new(),
                },
                patch: Some(Arc::new(o.diff.clone())),
            });
        }
        if !candidates.is_empty() {
            selections.push(Selection {
                datapoint: (*img.datapoint).clone(),
                candidates,
            });
        }
    }
    if unjudged > 0 {
        output::warning(format!(
            "{unjudged} sample(s) did not get a sandbox (infrastructure); they are not graded (see their agent.json)"
        ));
    }
    if selections.is_empty() {
        anyhow::bail!("no sample left a candidate to verify");
    }
    let launched = launch(selections, &weights, &options, Some((layout, manifest))).await?;
    let ungraded = launched
        .outcome
        .records
        .iter()
        .filter(|r| r.verdict == Verdict::InfraError)
        .count();
    let code = match launched.outcome.status {
        RunStatus::Cancelled => {
            output::status(format!(
                "run interrupted; finish it with: racebench run --resume {}",
                launched.layout.root().display()
            ));
            exit_code::INTERRUPTED
        }
        _ if ungraded > 0 || unjudged > 0 => exit_code::INCONCLUSIVE,
        _ => exit_code::SUCCESS,
    };
    match summarize_run(launched.layout.root(), &weights) {
        Ok(summary) => {
            let board = agent_board(&summary);
            print!("{}", board.render_text());
            racebench_runner::results::write_atomic(
                &launched.layout.path("leaderboard.json"),
                board.to_json().as_bytes(),
            )?;
        }
        Err(e) => output::warning(format!(
            "the run is saved in {} but could not be graded: {e:#}",
            launched.layout.root().display()
        )),
    }
    Ok(code)
}

/// The agents the command line names, built-in or from the agents file.
fn resolve_agents(opts: &AgentOptions) -> anyhow::Result<Vec<AgentSpec>> {
    let from_file = match &opts.agents_file {
        Some(path) => read_agents_file(path)?,
        None => Vec::new(),
    };
    let mut out: Vec<AgentSpec> = Vec::new();
    for name in &opts.agent {
        let mut spec = if let Some(spec) = from_file.iter().find(|a| &a.name == name) {
            spec.clone()
        } else if name == "command" {
            let command = opts.agent_command.clone().ok_or_else(|| {
                coded(
                    exit_code::USAGE,
                    anyhow::anyhow!("--agent command needs --agent-command CMD"),
                )
            })?;
            AgentSpec {
                name: "command".into(),
                kind: AgentKind::Command {
                    command,
                    setup: opts.agent_setup.clone(),
                },
                files: opts
                    .agent_file
                    .iter()
                    .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
                    .collect(),
                env: BTreeMap::new(),
                pass_env: Vec::new(),
                egress: false,
                timeout_secs: None,
            }
        } else if let Some(spec) = AgentSpec::builtin(name) {
            spec
        } else {
            return Err(coded(
                exit_code::USAGE,
                anyhow::anyhow!(
                    "no agent `{name}`: use oracle, nop, command (with --agent-command) or a name from --agents-file"
                ),
            ));
        };
        if let Some(secs) = opts.agent_timeout {
            spec.timeout_secs = Some(secs);
        }
        if let Some(net) = opts.agent_network {
            spec.egress = net == AgentNetworkArg::Egress;
        }
        for f in &mut spec.files {
            *f = std::path::absolute(&*f).unwrap_or_else(|_| f.clone());
        }
        if out.iter().any(|a| a.name == spec.name) {
            continue;
        }
        out.push(spec);
    }
    Ok(out)
}
