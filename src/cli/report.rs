//! `pullrecon report`: the human report of the latest run (HTML file plus a text summary on
//! stdout) (not available yet).

use anyhow::Result;
use std::path::PathBuf;

/// The human report of the latest run in DIR: an HTML file and a text summary on stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The output folder holding the runs.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(_args: &Args, _command: String) -> Result<i32> {
    eprintln!("pullrecon: 'report' is not available yet in this version");
    Ok(2)
}
