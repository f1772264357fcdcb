//! `racebench clean`: removes every container, network and volume racebench
//! labelled (pods, builders), leftovers of dead processes on external
//! services, and with `--images` the images it built; with `--cluster`,
//! instead, what it left on a swarm (services, networks, secrets, configs, by
//! label), and nothing on this machine.

use std::time::Duration;

use racebench_runner::cluster::Manager;
use racebench_runner::engine::Engine;
use racebench_runner::guard::remove_network_fully;
use racebench_runner::labels;
use racebench_runner::services::{External, ServicesConfig};

use crate::args::CleanArgs;
use crate::commands::launch::swarm_manager;
use crate::exit_code;
use crate::output;

pub async fn clean(args: CleanArgs) -> anyhow::Result<i32> {
    if args.cluster {
        let manager = Manager::connect(&swarm_manager(&args.swarm)?).await?;
        let label = match &args.run {
            Some(run) => format!("{}={run}", labels::RUN),
            None => labels::OWNER.to_string(),
        };
        let removed = manager
            .remove_labelled(&label, Duration::from_secs(60))
            .await?;
        println!(
            "removed from the swarm: {} service(s), {} network(s), {} secret(s), {} config(s)",
            removed.services, removed.networks, removed.secrets, removed.configs
        );
        // The swarm only: this machine's engine may be running trials of its own.
        return Ok(exit_code::SUCCESS);
    }
    let engine = Engine::connect().await?;
    if let Some(run) = &args.run {
        let label = format!("{}={run}", labels::RUN);
        let (containers, networks, _) = remove_labelled(&engine, &label, true).await?;
        println!("removed {containers} container(s), {networks} network(s) of run {run}");
        return Ok(exit_code::SUCCESS);
    }
    // Trial data on external services, by the names of dead processes.
    let config = ServicesConfig::from_env()?;
    let all = racebench_model::ServiceKind::ALL.into_iter().collect();
    match External::connect(&config, &all).await {
        Ok(Some(external)) => match external.sweep().await {
            Ok(swept) if !swept.is_empty() => println!(
                "removed {} leftover trial resource(s) on external services",
                swept.len()
            ),
            Ok(_) => {}
            Err(e) => output::warning(format!("leftover trial data was not swept: {e}")),
        },
        Ok(None) => {}
        Err(e) => output::warning(format!("external services were not swept: {e}")),
    }
    let (containers, networks, spared) =
        remove_labelled(&engine, labels::OWNER, args.force).await?;
    if !spared.is_empty() {
        output::warning(format!(
            "spared the containers and networks of {} racebench process(es) still running here (pid {}); stop them first, or pass --force",
            spared.len(),
            spared.join(", ")
        ));
    }
    let volumes = engine.volumes_with_label(labels::OWNER).await?;
    for v in &volumes {
        engine.remove_volume(v).await?;
    }
    println!(
        "removed {containers} container(s), {networks} network(s), {} volume(s)",
        volumes.len()
    );
    if args.images {
        let removed = engine
            .remove_images_with_label(labels::CONTENT_HASH)
            .await?;
        println!("removed {removed} image(s)");
    }
    Ok(exit_code::SUCCESS)
}

/// Removes the containers, then the networks, carrying `label`; returns
/// their counts and the pids of running racebench processes whose objects
/// were spared (none with `force`).
async fn remove_labelled(
    engine: &Engine,
    label: &str,
    force: bool,
) -> anyhow::Result<(usize, usize, Vec<String>)> {
    let mut spared = std::collections::BTreeSet::new();
    let mut spare = |l: &std::collections::HashMap<String, String>| {
        let running = !force && labels::owner_is_running(l);
        if running {
            spared.insert(l.get(labels::PID).cloned().unwrap_or_default());
        }
        running
    };
    let mut containers = 0;
    for c in engine.containers_with_label(label).await? {
        if !spare(&c.labels) {
            engine.remove_container(&c.id).await?;
            containers += 1;
        }
    }
    let mut networks = 0;
    for n in engine.networks_with_label(label).await? {
        if !spare(&n.labels) {
            remove_network_fully(engine, &n.id).await?;
            networks += 1;
        }
    }
    Ok((containers, networks, spared.into_iter().collect()))
}
