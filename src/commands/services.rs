//! `racebench services up|down|status|build`: what trials still share, the
//! service images of their pods and external endpoints.

use std::collections::BTreeSet;

use racebench_model::ServiceKind;
use racebench_runner::engine::Engine;
use racebench_runner::services::{self, ServicesConfig};

use crate::args::{ServiceName, ServicesAction, ServicesArgs};
use crate::exit_code;
use crate::output;

fn kinds(names: &[ServiceName]) -> BTreeSet<ServiceKind> {
    if names.is_empty() {
        return ServiceKind::ALL.into_iter().collect();
    }
    names
        .iter()
        .map(|n| match n {
            ServiceName::Postgres => ServiceKind::Postgres,
            ServiceName::Kafka => ServiceKind::Kafka,
            ServiceName::Redis => ServiceKind::Redis,
        })
        .collect()
}

pub async fn services(args: ServicesArgs) -> anyhow::Result<i32> {
    let engine = Engine::connect().await?;
    let config = ServicesConfig::from_env()?;
    let mut progress = |line: &str| output::status(line);
    match args.action {
        ServicesAction::Up { services: names } => {
            let statuses = services::up(&engine, &config, &kinds(&names), &mut progress).await?;
            print_statuses(&statuses);
            Ok(exit_code::SUCCESS)
        }
        ServicesAction::Down => {
            let removed = services::down(&engine).await?;
            println!(
                "removed {removed} long-lived service container(s) and network(s) of earlier racebench versions \
                 (services now run in each trial's pod and go with it)"
            );
            Ok(exit_code::SUCCESS)
        }
        ServicesAction::Status => {
            let statuses = services::status(&engine, &config).await;
            print_statuses(&statuses);
            let running_but_sick = statuses.iter().any(|s| s.state == "external" && !s.healthy);
            Ok(if running_but_sick {
                exit_code::INFRA
            } else {
                exit_code::SUCCESS
            })
        }
        ServicesAction::Build => {
            let images = services::build(&engine, &config, &mut progress).await?;
            for (kind, image) in images {
                println!("{kind:<9} {} ({:?})", image.tag, image.provenance);
            }
            Ok(exit_code::SUCCESS)
        }
    }
}

fn print_statuses(statuses: &[services::ServiceStatus]) {
    println!(
        "{:<9} {:<19} {:<8} {:<22} health",
        "service", "name", "state", "address"
    );
    for status in statuses {
        println!("{status}");
    }
}
