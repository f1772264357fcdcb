//! `racebench services up|down|status|build`, and the services handle a run
//! holds: reused when already running, started (and later stopped) otherwise.

use std::collections::BTreeSet;
use std::sync::Arc;

use racebench_model::ServiceKind;
use racebench_runner::engine::Engine;
use racebench_runner::labels;
use racebench_runner::services::{self, Services, ServicesConfig};
use racebench_runner::trial::Provision;

use crate::args::{ServiceName, ServicesAction, ServicesArgs};
use crate::exit_code;
use crate::output;

/// The services of one run.
pub struct TrialServicesHandle {
    services: Arc<Services>,
}

impl TrialServicesHandle {
    /// Makes the `needed` services ready, printing what it does.
    pub async fn start(
        engine: &Engine,
        needed: &BTreeSet<ServiceKind>,
    ) -> anyhow::Result<TrialServicesHandle> {
        let config = ServicesConfig::from_env()?;
        let services = Services::ensure(engine, &config, needed, &mut |line: &str| {
            output::status(format!("  services: {line}"));
        })
        .await?;
        // Trial resources of earlier racebench processes that died, and
        // consumer groups whose members were still alive when their trial
        // ended: best effort, never a reason not to run.
        match services.sweep_leftovers().await {
            Ok(report) if !report.is_empty() => {
                tracing::debug!("swept leftovers of earlier runs: {report:?}")
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("sweeping leftovers of earlier runs failed: {e}"),
        }
        if !services.contained() {
            output::warning(
                "external services are in use: trial containers get a route to them, so they are less contained (see docs/services.md)",
            );
        }
        Ok(TrialServicesHandle {
            services: Arc::new(services),
        })
    }

    pub fn provider(&self) -> Arc<dyn Provision> {
        self.services.clone()
    }

    /// Removes the services this run started itself; those found running stay.
    pub async fn stop_started(self) -> anyhow::Result<()> {
        let services = Arc::try_unwrap(self.services)
            .map_err(|_| anyhow::anyhow!("the services are still in use by a trial"))?;
        services.stop_started().await?;
        Ok(())
    }
}

/// Removes the service containers (and an emptied services network) this
/// process started, after an interrupt cut their start short.
pub async fn remove_services_started_here(engine: &Engine) -> anyhow::Result<()> {
    let mine = format!("{}={}", labels::PID, std::process::id());
    let is_services = |l: &std::collections::HashMap<String, String>, role: &str| {
        l.get(labels::ROLE).map(String::as_str) == Some(role)
    };
    for c in engine.containers_with_label(&mine).await? {
        if is_services(&c.labels, "service") {
            engine.remove_container(&c.id).await?;
        }
    }
    for n in engine.networks_with_label(&mine).await? {
        if is_services(&n.labels, "services-network")
            && engine.network_containers(&n.id).await?.is_empty()
        {
            engine.remove_network(&n.id).await?;
        }
    }
    Ok(())
}

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
            println!("removed {removed} service container(s) and network(s)");
            Ok(exit_code::SUCCESS)
        }
        ServicesAction::Status => {
            let statuses = services::status(&engine, &config).await;
            print_statuses(&statuses);
            let running_but_sick = statuses.iter().any(|s| s.state != "absent" && !s.healthy);
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
