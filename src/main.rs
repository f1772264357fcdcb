//! The `racebench` command: parses the command line, runs one command from
//! the libraries, and turns its outcome into a documented exit code.

mod args;
mod commands;
mod exit_code;
mod output;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    init_logging(cli.global.verbose);
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            output::error(&error);
            exit_code::classify(&error)
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr, filtered by RUST_LOG or -v; user messages are printed apart.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "racebench=debug,racebench_runner=debug,racebench_grader=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
