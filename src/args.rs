//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// racebench: a graded benchmark of AI coding agents fixing race conditions.
#[derive(Debug, Parser)]
#[command(name = "racebench", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Folder of datapoints (one sub-folder each).
    #[arg(
        long,
        global = true,
        env = "RACEBENCH_DATAPOINTS",
        default_value = "datapoints"
    )]
    pub datapoints: PathBuf,
    /// Folder of weights files (`<datapoint>.toml`).
    #[arg(
        long,
        global = true,
        env = "RACEBENCH_WEIGHTS",
        default_value = "weights"
    )]
    pub weights: PathBuf,
    /// Log more (-v: debug, -vv: trace); logs go to stderr, apart from results.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the datapoints.
    List,
    /// Run candidates (patches) against datapoints and write a results folder.
    Run(RunArgs),
    /// Check datapoints: the reference passes every trial, the unpatched bug and every decoy are caught.
    Validate(ValidateArgs),
    /// Measure how reliably each test catches the bug (unpatched) and passes the fix (reference).
    Calibrate(CalibrateArgs),
    /// Score a results folder (again), optionally under other weights.
    Grade(GradeArgs),
    /// Write a static HTML report of a results folder.
    Report(ReportArgs),
    /// Show the timeline of events a trial recorded.
    Timeline(TimelineArgs),
    /// Start, stop, inspect or build the live services (Postgres, Kafka-protocol broker, Redis).
    Services(ServicesArgs),
    /// Remove every container, network and volume racebench created, and leftover trial data.
    Clean(CleanArgs),
    /// Create the skeleton of a new datapoint.
    New(NewArgs),
    /// Measure racebench itself (per-trial overhead).
    Bench(BenchArgs),
    /// Open a datapoint's sandbox (the unpatched service, live services, no hidden tests), or run a command in one.
    Sandbox(SandboxArgs),
    /// Check a Docker swarm for racebench: the manager, its nodes, the registry.
    Cluster(ClusterArgs),
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Connect to the manager, list the nodes and what they can take, and check that the registry answers.
    Check {
        #[command(flatten)]
        swarm: SwarmArgs,
    },
}

/// Options shared by the commands that run trials.
#[derive(Debug, Args, Clone)]
pub struct TrialOptions {
    /// Trials per candidate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,
    /// Trials at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Where results folders go.
    #[arg(long, env = "RACEBENCH_RESULTS", default_value = "results")]
    pub results: PathBuf,
    /// Leave trial containers and networks in place for debugging (`racebench clean` removes them).
    #[arg(long)]
    pub keep: bool,
    /// Seconds running trials may go on after the first Ctrl-C before they are killed.
    #[arg(long, default_value_t = 15)]
    pub grace: u64,
    /// Times a trial that ends in an infrastructure error is run again, in a fresh pod.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,
    /// Where the trials' pods run: this machine's engine, or a Docker swarm (with --manager and --registry).
    #[arg(long, value_enum, env = "RACEBENCH_CLUSTER", default_value_t = ClusterKind::Local)]
    pub cluster: ClusterKind,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ClusterKind {
    Local,
    Swarm,
}

/// How racebench reaches a swarm (see docs/cluster.md).
#[derive(Debug, Args, Clone, Default)]
pub struct SwarmArgs {
    /// The swarm manager's engine socket, `unix://PATH` (forward a remote one with `ssh -L`).
    #[arg(long, env = "RACEBENCH_SWARM_MANAGER", value_name = "unix://PATH")]
    pub manager: Option<String>,
    /// The registry images are pushed to and the nodes pull from.
    #[arg(long, env = "RACEBENCH_REGISTRY", value_name = "HOST:PORT")]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Datapoints to run (repeatable); default: all, or those a predictions file names.
    #[arg(long = "datapoint", short = 'd', id = "datapoint")]
    pub datapoint_ids: Vec<String>,
    /// A unified diff to try (repeatable).
    #[arg(long, conflicts_with_all = ["predictions", "resume"])]
    pub patch: Vec<PathBuf>,
    /// Try the datapoint's reference fix.
    #[arg(long, conflicts_with_all = ["predictions", "resume"])]
    pub reference: bool,
    /// Try the unpatched service (the bug must be caught).
    #[arg(long, conflicts_with_all = ["predictions", "resume"])]
    pub no_patch: bool,
    /// Try every decoy of the datapoint.
    #[arg(long, conflicts_with_all = ["predictions", "resume"])]
    pub decoys: bool,
    /// A SWE-bench style predictions file (JSON lines: instance_id, model_name_or_path, model_patch).
    #[arg(long, conflicts_with = "resume")]
    pub predictions: Option<PathBuf>,
    /// Finish an interrupted run: trials already recorded are skipped.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub agents: AgentOptions,
    #[command(flatten)]
    pub options: TrialOptions,
}

/// Agents that work in sandboxes; their diffs become the candidates (see docs/agents.md).
#[derive(Debug, Args, Clone, Default)]
pub struct AgentOptions {
    /// An agent to evaluate (repeatable): `oracle`, `nop`, `command` (with --agent-command) or a name from --agents-file.
    #[arg(long = "agent", value_name = "NAME", conflicts_with_all = ["patch", "reference", "no_patch", "decoys", "predictions", "resume"])]
    pub agent: Vec<String>,
    /// A TOML file of `[[agent]]` rows (name, command, setup, files, env, pass_env, network, timeout_secs).
    #[arg(long, value_name = "FILE")]
    pub agents_file: Option<PathBuf>,
    /// Samples per agent and datapoint (each in a fresh sandbox), for pass@k.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub samples: u32,
    /// The command line of `--agent command`, run with `sh -c` in the work tree.
    #[arg(long, value_name = "CMD")]
    pub agent_command: Option<String>,
    /// A setup step run before `--agent-command` (installing the agent).
    #[arg(long, value_name = "CMD", requires = "agent_command")]
    pub agent_setup: Option<String>,
    /// A host file copied to /racebench/agent/ in each sandbox (repeatable).
    #[arg(long, value_name = "PATH", requires = "agent_command")]
    pub agent_file: Vec<PathBuf>,
    /// Wall-clock limit of each agent step, in seconds (default 30 minutes).
    #[arg(long, value_name = "SECS")]
    pub agent_timeout: Option<u64>,
    /// `egress` gives sandboxes a route off their pod (for a model API); verification trials stay contained.
    #[arg(long, value_enum)]
    pub agent_network: Option<AgentNetworkArg>,
    /// Sandboxes at once (default: --jobs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub agent_jobs: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AgentNetworkArg {
    Contained,
    Egress,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SandboxArgs {
    /// The datapoint to open a sandbox of: a shell in its work tree, services live.
    #[arg(required = true)]
    pub datapoint: Option<String>,
    /// When the sandbox closes, write the diff of the work tree here (a candidate for `run --patch`).
    #[arg(long, value_name = "FILE")]
    pub diff: Option<PathBuf>,
    /// `egress` gives the sandbox a route off its pod.
    #[arg(long, value_enum)]
    pub network: Option<AgentNetworkArg>,
    /// Do not open a shell: print the sandbox's name and wait for Ctrl-C (drive it with `sandbox exec`).
    #[arg(long)]
    pub no_shell: bool,
    #[arg(long, env = "RACEBENCH_RESULTS", default_value = "results")]
    pub results: PathBuf,
    #[command(subcommand)]
    pub action: Option<SandboxAction>,
}

#[derive(Debug, Subcommand)]
pub enum SandboxAction {
    /// Run one command in an open sandbox (by the name `racebench sandbox` printed).
    Exec {
        /// The sandbox's name.
        name: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Datapoints to validate; default: all.
    pub ids: Vec<String>,
    #[command(flatten)]
    pub options: TrialOptions,
    /// Write the measured rates into each datapoint's README (between the racebench:rates markers).
    #[arg(long)]
    pub write_rates: bool,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Datapoints to calibrate; default: all.
    pub ids: Vec<String>,
    #[command(flatten)]
    pub options: TrialOptions,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GradeFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// A results folder (holding run.json).
    pub run_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = GradeFormat::Text)]
    pub format: GradeFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    pub run_dir: PathBuf,
    /// Folder to write the site into.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Templates folder overriding the built-in templates.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TimelineFormat {
    Text,
    Json,
    Svg,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    pub run_dir: PathBuf,
    /// Which datapoint (default: the only one with events).
    #[arg(long)]
    pub datapoint: Option<String>,
    /// Which candidate (default: the first with events, preferring a failing trial).
    #[arg(long)]
    pub candidate: Option<String>,
    /// Which trial (1-based; default: the first failing one with events).
    #[arg(long)]
    pub trial: Option<u32>,
    /// Show only flows whose name contains this (repeatable), e.g. `--flow order-123456 --flow competing`.
    #[arg(long)]
    pub flow: Vec<String>,
    #[arg(long, value_enum, default_value_t = TimelineFormat::Text)]
    pub format: TimelineFormat,
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(subcommand)]
    pub action: ServicesAction,
}

#[derive(Debug, Subcommand)]
pub enum ServicesAction {
    /// Start the services (all, or those named) and wait until they answer.
    Up {
        #[arg(value_enum)]
        services: Vec<ServiceName>,
    },
    /// Stop and remove the services.
    Down,
    /// Show each service's state and whether it answers a real probe.
    Status,
    /// Build the service images (including the broker binary, once per machine).
    Build,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ServiceName {
    Postgres,
    Kafka,
    Redis,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only what this run left (its trial containers and networks, e.g. after `--keep`).
    #[arg(long, value_name = "RUN_ID", conflicts_with = "images")]
    pub run: Option<String>,
    /// Also remove the images racebench built (datapoints and services; not the base image).
    #[arg(long)]
    pub images: bool,
    /// Also remove what racebench processes still running on this machine are using (their runs fail).
    #[arg(long)]
    pub force: bool,
    /// Clean the swarm instead (with --manager): every service, network, secret and config racebench left there.
    #[arg(long)]
    pub cluster: bool,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The new datapoint's id (lowercase letters, digits, dashes).
    pub id: String,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Datapoint to measure with (default: the fixture `counter-race`).
    #[arg(long, default_value = "counter-race")]
    pub datapoint: String,
    /// Trials to measure.
    #[arg(long, default_value_t = 20)]
    pub trials: u32,
    #[arg(long, env = "RACEBENCH_RESULTS", default_value = "results")]
    pub results: PathBuf,
}
