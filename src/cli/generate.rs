//! `pullrecon generate`: synthetic sent and received logs with known faults, for demos, tests and
//! benchmarks (not available yet).

use anyhow::Result;
use std::path::PathBuf;

/// Synthetic sent and received logs with known faults, and the expected findings per category.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write the logs into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many notifications.
    #[arg(long, value_name = "N")]
    pub notifications: u64,
    /// Seed of the generator (the same seed gives the same files).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
}

pub fn run(_args: &Args, _command: String) -> Result<i32> {
    eprintln!("pullrecon: 'generate' is not available yet in this version");
    Ok(2)
}
