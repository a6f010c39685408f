//! `pullrecon backfill`: one run per day, oldest first, resumable; without `--execute` it only
//! plans (not available yet).

use anyhow::Result;
use std::path::PathBuf;

/// One run per day, oldest first, resumable; without --execute it only prints the plan.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job file.
    #[arg(long, value_name = "FILE")]
    pub job: PathBuf,
    /// First day (YYYY-MM-DD), included.
    #[arg(long, value_name = "DATE")]
    pub from: chrono::NaiveDate,
    /// Last day (YYYY-MM-DD), included.
    #[arg(long, value_name = "DATE")]
    pub to: chrono::NaiveDate,
    /// Run the plan (without it, only print it).
    #[arg(long)]
    pub execute: bool,
}

pub fn run(_args: &Args, _command: String) -> Result<i32> {
    eprintln!("pullrecon: 'backfill' is not available yet in this version");
    Ok(2)
}
