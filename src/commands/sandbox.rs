//! `racebench sandbox DATAPOINT`: the environment an agent gets, for a
//! person (a shell in the work tree, services live), until the shell exits
//! or Ctrl-C; `--diff FILE` keeps what was changed as a candidate patch.
//! `racebench sandbox exec NAME -- CMD` runs one command in an open sandbox
//! (for a second terminal, or an agent on the host driving it).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use anyhow::Context as _;
use racebench_runner::agent::{prepare_images, visible_tools};
use racebench_runner::engine::Engine;
use racebench_runner::labels;
use racebench_runner::sandbox::{
    exec_in, with_tools_on_path, AgentNetwork, Sandbox, SandboxSpec, PROMPT_PATH,
};
use racebench_runner::services::ServicesConfig;

use crate::args::{AgentNetworkArg, SandboxAction, SandboxArgs};
use crate::commands::Context;
use crate::exit_code::{self, coded};
use crate::output;

pub async fn sandbox(ctx: &Context, args: SandboxArgs) -> anyhow::Result<i32> {
    let engine = Engine::connect().await?;
    if let Some(SandboxAction::Exec { name, command }) = &args.action {
        let out = exec_in(&engine, name, command).await.map_err(|e| {
            let code = if e.is_infra() {
                exit_code::INFRA
            } else {
                exit_code::USAGE
            };
            coded(code, e)
        })?;
        std::io::stdout().write_all(&out.stdout)?;
        std::io::stderr().write_all(&out.stderr)?;
        return Ok(out.exit_code.unwrap_or(1) as i32);
    }
    let id = args.datapoint.clone().expect("clap requires it");
    let dp = ctx.select(&[id])?.remove(0);
    let services = ServicesConfig::from_env()?;
    let say = |line: String| output::status(line);
    let (images, template) = prepare_images(
        &engine,
        std::slice::from_ref(&dp),
        &services,
        &args.results.join("sandboxes/logs"),
        &say,
    )
    .await
    .map_err(|e| coded(exit_code::INFRA, e))?;
    let image = images.into_iter().next().expect("one datapoint, one image");
    let mut name = format!(
        "rb-sandbox-{}-{}",
        dp.spec.id,
        &racebench_runner::pod::secret()[..6]
    );
    name.truncate(90);
    let prompt = std::fs::read_to_string(dp.dir.join(&dp.spec.prompt))
        .with_context(|| format!("failed to read the prompt of {}", dp.spec.id))?;
    let spec = SandboxSpec {
        name: name.clone(),
        labels: labels::for_trial("sandbox", &dp.spec.id, "person", 0, "sandbox"),
        datapoint: image.datapoint.clone(),
        image: image.image.clone(),
        pod: Arc::new(template),
        network: match args.network {
            Some(AgentNetworkArg::Egress) => AgentNetwork::Egress,
            _ => AgentNetwork::Contained,
        },
        prompt,
        tools: visible_tools(&dp)?,
        env: Vec::new(),
    };
    let sandbox = Sandbox::start(&engine, &spec)
        .await
        .map_err(|e| coded(exit_code::INFRA, e))?;
    let t = sandbox.timings;
    output::status(format!(
        "sandbox {name} is open ({:.1}s: container {:.1}s, services {:.1}s, workspace {:.1}s)\n  work tree {}, prompt {PROMPT_PATH}, tools: timeline{}\n  another terminal: racebench sandbox exec {name} -- CMD",
        t.total().as_secs_f64(),
        t.container.as_secs_f64(),
        t.services.as_secs_f64(),
        t.workspace.as_secs_f64(),
        sandbox.workspace(),
        spec.tools.iter().map(|(n, _, _)| format!(", {n}")).collect::<String>(),
    ));
    let shell = !args.no_shell && std::io::stdin().is_terminal() && which("docker");
    if shell {
        // An interactive terminal needs a TTY exec; the docker CLI does that well.
        let mut cmd = vec![
            "exec".to_string(),
            "-it".into(),
            "-w".into(),
            sandbox.workspace().to_string(),
            name.clone(),
        ];
        cmd.extend(with_tools_on_path(&[
            "sh".into(),
            "-c".into(),
            "command -v bash >/dev/null && exec bash || exec sh".into(),
        ]));
        let status = tokio::process::Command::new("docker").args(&cmd).status();
        tokio::select! {
            _ = status => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    } else {
        output::status("Ctrl-C closes the sandbox");
        let _ = tokio::signal::ctrl_c().await;
    }
    let mut code = exit_code::SUCCESS;
    if let Some(path) = &args.diff {
        match sandbox.stop_and_take().await {
            Ok(finished) => {
                std::fs::write(path, &finished.diff.text)
                    .with_context(|| format!("failed to write {}", path.display()))?;
                for note in &finished.diff.notes {
                    output::warning(note);
                }
                output::status(if finished.diff.text.is_empty() {
                    format!("nothing changed; {} is empty", path.display())
                } else {
                    format!(
                        "diff of {} file(s) written to {}; try it with: racebench run -d {} --patch {}",
                        finished.diff.files.len(),
                        path.display(),
                        dp.spec.id,
                        path.display()
                    )
                });
            }
            Err(e) => {
                output::warning(format!("the diff was not taken: {e}"));
                code = exit_code::INFRA;
            }
        }
    }
    sandbox.remove().await?;
    output::status(format!("sandbox {name} removed"));
    Ok(code)
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
