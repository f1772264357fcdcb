//! `racebench clean`: removes every container, network and volume racebench
//! labelled (trials, services, builders), leftover trial databases and topics,
//! and with `--images` the images it built.

use racebench_runner::engine::Engine;
use racebench_runner::guard::remove_network_fully;
use racebench_runner::labels;
use racebench_runner::services::{self, ServicesConfig};

use crate::args::CleanArgs;
use crate::exit_code;
use crate::output;

pub async fn clean(args: CleanArgs) -> anyhow::Result<i32> {
    let engine = Engine::connect().await?;
    if let Some(run) = &args.run {
        let label = format!("{}={run}", labels::RUN);
        let (containers, networks) = remove_labelled(&engine, &label).await?;
        println!("removed {containers} container(s), {networks} network(s) of run {run}");
        return Ok(exit_code::SUCCESS);
    }
    // Trial data inside the services first, while they still run.
    let config = ServicesConfig::from_env()?;
    match services::sweep_leftovers(&engine, &config).await {
        Ok(report) if !report.is_empty() => println!(
            "dropped {} trial database(s), {} topic(s), {} consumer group(s), {} Redis database(s)",
            report.databases.len(),
            report.topics.len(),
            report.groups.len(),
            report.redis_indexes.len()
        ),
        Ok(_) => {}
        Err(e) => output::warning(format!("leftover trial data was not swept: {e}")),
    }
    let (containers, networks) = remove_labelled(&engine, labels::OWNER).await?;
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

/// Removes the containers, then the networks, carrying `label`; returns their counts.
async fn remove_labelled(engine: &Engine, label: &str) -> anyhow::Result<(usize, usize)> {
    let containers = engine.containers_with_label(label).await?;
    for c in &containers {
        engine.remove_container(&c.id).await?;
    }
    let networks = engine.networks_with_label(label).await?;
    for n in &networks {
        remove_network_fully(engine, &n.id).await?;
    }
    Ok((containers.len(), networks.len()))
}
