//! `pullrecon run`: the nightly job: reconcile, replay, reconcile again, report, metrics, as one
//! run with one run id (`crate::nightly`), under the output folder's lock.
//!
//! Usage: pullrecon run --job FILE [--as-of TS] [--quiet]
//!
//! As-of: `--as-of`, else the job's `[reconcile] as_of` ("now", "midnight" or a fixed instant).
//! Events are read from as-of − lookback. A second run on the same output folder at the same time
//! exits with status 75 and changes nothing. Re-running a date replaces that date's tables.
//! Exit status: 0 no category over its error threshold; 3 some are (by default: any finding of
//! severity error); 1 the run could not be done (bad job file, unreadable input, output not
//! writable); 2 usage error; 75 the output folder is locked by another run.

use crate::job::Job;
use crate::lock::{EXIT_LOCKED, OutputLock};
use crate::nightly::{Console, RunSpec, execute, lock_holder};
use crate::reconcile::{new_run_id, now_micros};
use anyhow::{Result, anyhow};
use std::path::PathBuf;

/// The nightly job: reconcile, replay, reconcile again, report, metrics.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 no category over its error threshold; 3 some are; 1 the run \
could not be done; 2 usage error; 75 another run holds the output folder's lock."
)]
pub struct Args {
    /// The job file.
    #[arg(long, value_name = "FILE")]
    pub job: PathBuf,
    /// The moment the run judges at (RFC 3339). Default: the job's [reconcile] as_of, else now.
    #[arg(long, value_name = "TS", value_parser = super::parse_ts_arg)]
    pub as_of: Option<i64>,
    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &Args, command: String) -> Result<i32> {
    let job = Job::load(&args.job)?;
    let console = Console::new(args.quiet);
    let now = now_micros();
    let as_of = args
        .as_of
        .unwrap_or_else(|| job.reconcile.as_of.resolve(now, job.tz()));
    let lock = match OutputLock::try_acquire(&job.output.dir, &lock_holder(&job, "run"))? {
        Ok(lock) => lock,
        Err(busy) => {
            eprintln!("pullrecon: {busy}");
            console.event(
                "locked",
                serde_json::json!({"job": job.name, "out": job.output.dir.display().to_string(), "holder": busy.holder}),
            );
            return Ok(EXIT_LOCKED);
        }
    };
    let spec = RunSpec {
        job: &job,
        as_of,
        day: None,
        mode: "run",
        command,
        run_id: new_run_id(now),
    };
    let result = execute(&spec, &console);
    drop(lock);
    match result.failure {
        Some(reason) => Err(anyhow!("{reason}")),
        None => Ok(result.exit_code),
    }
}
