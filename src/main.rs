//! The `pullrecon` binary: parses the command line, sets up logging, runs the subcommand and
//! turns its result into the contract's exit status (an error is one line on stderr, status 1).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use pullrecon::cli::Cli;
use std::process::ExitCode;

fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    // Everything pullrecon creates (tables, landing, journals, report, metrics, logs it writes) is
    // audit data: no access for others, whichever code path creates it.
    // SAFETY: umask only sets the process's file-mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o027);
    }
    let cli = Cli::parse();
    init_logging(&cli);
    pullrecon::cli::set_json_output(cli.log_format == "json");
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let result = cli.command.dispatch(command_line);
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("pullrecon: {e:#}");
            ExitCode::from(1)
        }
    }
}
