//! `pullrecon replay`: performs the replayable retrievals of the latest run in DIR and writes what
//! it did (not available yet).

use anyhow::Result;
use std::path::PathBuf;

/// Performs the replayable retrievals of the latest run in DIR.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The output folder of the run to replay.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print the plan and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Requests in flight at once, over all senders.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Requests in flight at once per sender host.
    #[arg(long, value_name = "N")]
    pub per_host: Option<usize>,
    /// Attempts in all, over runs, before an item is parked.
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
}

pub fn run(_args: &Args, _command: String) -> Result<i32> {
    eprintln!("pullrecon: 'replay' is not available yet in this version");
    Ok(2)
}
