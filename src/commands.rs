//! One file per command; this module only routes to them and holds the
//! little they share (where datapoints and weights are, an async runtime).

mod agents;
mod bench;
mod calibrate;
mod clean;
mod cluster;
mod grade;
mod launch;
mod list;
mod new;
mod report;
mod run;
mod sandbox;
mod services;
mod timeline;
mod validate;

use std::path::PathBuf;

use anyhow::Context as _;
use racebench_model::{Datapoint, WeightsSet};

use crate::args::{Cli, Command, Global};
use crate::output;

/// Runs the command and returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::List => list::list(&ctx),
        Command::Run(args) => block_on(run::run(&ctx, args)),
        Command::Validate(args) => block_on(validate::validate(&ctx, args)),
        Command::Calibrate(args) => block_on(calibrate::calibrate(&ctx, args)),
        Command::Grade(args) => grade::grade(&ctx, args),
        Command::Report(args) => report::report(&ctx, args),
        Command::Timeline(args) => timeline::timeline(args),
        Command::Services(args) => block_on(services::services(args)),
        Command::Clean(args) => block_on(clean::clean(args)),
        Command::New(args) => new::new(&ctx, args),
        Command::Bench(args) => block_on(bench::bench(&ctx, args)),
        Command::Sandbox(args) => block_on(sandbox::sandbox(&ctx, args)),
        Command::Cluster(args) => block_on(cluster::cluster(args)),
    }
}

/// Async is for the commands that talk to Docker and services; grading and
/// reports stay synchronous.
fn block_on<F: std::future::Future<Output = anyhow::Result<i32>>>(
    future: F,
) -> anyhow::Result<i32> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?
        .block_on(future)
}

/// What every command may need: the datapoints and weights folders.
pub struct Context {
    pub datapoints_dir: PathBuf,
    pub weights_dir: PathBuf,
}

impl Context {
    fn new(global: Global) -> Context {
        Context {
            datapoints_dir: global.datapoints,
            weights_dir: global.weights,
        }
    }

    /// Every datapoint, printing warnings (unknown keys).
    pub fn datapoints(&self) -> anyhow::Result<Vec<Datapoint>> {
        if !self.datapoints_dir.is_dir() {
            anyhow::bail!(
                "no datapoints folder at {}; run racebench from the repository root or pass --datapoints DIR",
                self.datapoints_dir.display()
            );
        }
        let (all, warnings) = Datapoint::load_all(&self.datapoints_dir)?;
        warnings.iter().for_each(output::warning);
        Ok(all)
    }

    /// The named datapoints (all when `ids` is empty), in the order given.
    pub fn select(&self, ids: &[String]) -> anyhow::Result<Vec<Datapoint>> {
        let all = self.datapoints()?;
        if ids.is_empty() {
            return Ok(all);
        }
        ids.iter()
            .map(|id| {
                all.iter()
                    .find(|d| &d.spec.id == id)
                    .cloned()
                    .ok_or_else(|| {
                        let known: Vec<_> = all.iter().map(|d| d.spec.id.as_str()).collect();
                        anyhow::anyhow!(
                            "no datapoint `{id}` in {} (known: {})",
                            self.datapoints_dir.display(),
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        )
                    })
            })
            .collect()
    }

    /// The weights folder, validated; printing warnings.
    pub fn weights(&self) -> anyhow::Result<WeightsSet> {
        if !self.weights_dir.is_dir() {
            anyhow::bail!(
                "no weights folder at {}; pass --weights DIR",
                self.weights_dir.display()
            );
        }
        let (set, warnings) = WeightsSet::load_dir(&self.weights_dir)?;
        warnings.iter().for_each(output::warning);
        Ok(set)
    }
}
