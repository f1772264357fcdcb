//! `racebench cluster check`: is this swarm ready for racebench? The manager
//! answers as a manager, which nodes take tasks and how big they are, whether
//! the registry answers, and what earlier runs left.

use std::time::Duration;

use racebench_runner::cluster::Manager;
use racebench_runner::labels;

use crate::args::{ClusterAction, ClusterArgs, SwarmArgs};
use crate::commands::launch::swarm_manager;
use crate::exit_code::{self, coded};

pub async fn cluster(args: ClusterArgs) -> anyhow::Result<i32> {
    match args.action {
        ClusterAction::Check { swarm } => check(&swarm).await,
    }
}

async fn check(swarm: &SwarmArgs) -> anyhow::Result<i32> {
    let manager = Manager::connect(&swarm_manager(swarm)?).await?;
    let nodes = manager.nodes().await?;
    println!(
        "manager {} (node {})",
        manager.host(),
        short(manager.node_id())
    );
    println!(
        "{:<24} {:<12} {:<8} {:<8} {:>5} {:>9}  address",
        "node", "id", "health", "takes", "cpus", "memory"
    );
    for n in &nodes {
        println!(
            "{:<24} {:<12} {:<8} {:<8} {:>5} {:>6.1}GiB  {}",
            n.hostname,
            short(&n.id),
            format!("{:?}", n.health).to_lowercase(),
            format!("{:?}", n.availability).to_lowercase(),
            n.cpus,
            n.memory_bytes as f64 / (1u64 << 30) as f64,
            n.addr
        );
    }
    let usable = nodes.iter().filter(|n| n.schedulable()).count();
    let mut problems = Vec::new();
    if usable == 0 {
        problems.push("no node is ready and active: trials would wait for one".to_string());
    }
    match &swarm.registry {
        None => problems.push(
            "no registry named (--registry HOST:PORT): a swarm run pushes its images there".into(),
        ),
        Some(registry) => {
            let reached = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect(registry.as_str()),
            )
            .await;
            match reached {
                Ok(Ok(_)) => println!("registry {registry}: answers on TCP from here"),
                Ok(Err(e)) => problems.push(format!("registry {registry} does not answer: {e}")),
                Err(_) => problems.push(format!("registry {registry} gave no answer within 5 s")),
            }
        }
    }
    let left = manager.leftovers(labels::OWNER).await?;
    let objects =
        left.services.len() + left.networks.len() + left.secrets.len() + left.configs.len();
    if objects == 0 {
        println!("nothing of racebench's is left on the swarm");
        if !left.tasks.is_empty() {
            println!(
                "  ({} task record(s) of removed services stay listed until their node, down now, returns or is removed with `docker node rm`)",
                left.tasks.len()
            );
        }
    } else {
        println!(
            "left by earlier runs: {} service(s), {} network(s), {} secret(s), {} config(s) (`racebench clean --cluster` removes them)",
            left.services.len(),
            left.networks.len(),
            left.secrets.len(),
            left.configs.len()
        );
    }
    if problems.is_empty() {
        println!("{usable} of {} node(s) take trials; ready", nodes.len());
        return Ok(exit_code::SUCCESS);
    }
    Err(coded(
        exit_code::INFRA,
        anyhow::anyhow!(problems.join("\n")),
    ))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
