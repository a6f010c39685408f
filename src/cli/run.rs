//! `pullrecon run`: the nightly job: reconcile, replay, reconcile again, report, metrics (not
//! available yet).

use anyhow::Result;
use std::path::PathBuf;

/// The nightly job: reconcile, replay, reconcile again, report, metrics.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job file.
    #[arg(long, value_name = "FILE")]
    pub job: PathBuf,
    /// The moment the run judges at (RFC 3339). Default: now.
    #[arg(long, value_name = "TS", value_parser = super::parse_ts_arg)]
    pub as_of: Option<i64>,
}

pub fn run(_args: &Args, _command: String) -> Result<i32> {
    eprintln!("pullrecon: 'run' is not available yet in this version");
    Ok(2)
}
