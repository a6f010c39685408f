//! `pullrecon backfill`: one run per day, oldest first, resumable; without `--execute` it only
//! prints the plan (`crate::backfill`).
//!
//! Usage: pullrecon backfill --job FILE --from DATE --to DATE [--execute]
//!        [--reprocess missing|failed|all] [--quiet]
//!
//! Day D runs as of local midnight of D+1 (the job's time zone) and reads the events of exactly
//! that day; its tables go to the partition date=D+1. Progress is kept in
//! `<out>/backfill-state.json`: a second invocation resumes at the first unfinished day.
//! Exit status: 0 done; 3 a day was over an error threshold; 1 a day (or the whole backfill)
//! could not be done; 2 usage error; 75 another run holds the output folder's lock.

use crate::backfill::{Reprocess, State, execute_plan, plan, print_plan};
use crate::job::Job;
use crate::lock::{EXIT_LOCKED, OutputLock};
use crate::nightly::{Console, lock_holder};
use anyhow::Result;
use std::path::PathBuf;

/// One run per day, oldest first, resumable; without --execute it only prints the plan.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 done; 3 a day was over an error threshold; 1 a day could not be \
done; 2 usage error; 75 another run holds the output folder's lock."
)]
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
    /// Which days already in the state file run again.
    #[arg(long, value_enum, default_value = "missing")]
    pub reprocess: Reprocess,
    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &Args, command: String) -> Result<i32> {
    if args.from > args.to {
        eprintln!("pullrecon: --from {} is after --to {}", args.from, args.to);
        return Ok(2);
    }
    let job = Job::load(&args.job)?;
    let console = Console::new(args.quiet);
    if !args.execute {
        let state = State::load(&job.output.dir)?;
        let days = plan(&job, args.from, args.to, args.reprocess, &state)?;
        print_plan(&job, &days, args.reprocess, &console);
        let n = days.iter().filter(|d| d.action.runs()).count();
        console.line(format!(
            "plan only: nothing was run (add --execute to run {n} day(s))"
        ));
        return Ok(0);
    }
    let _lock = match OutputLock::try_acquire(&job.output.dir, &lock_holder(&job, "backfill"))? {
        Ok(lock) => lock,
        Err(busy) => {
            eprintln!("pullrecon: {busy}");
            return Ok(EXIT_LOCKED);
        }
    };
    // The plan is made under the lock, from the state as it is now.
    let state = State::load(&job.output.dir)?;
    let days = plan(&job, args.from, args.to, args.reprocess, &state)?;
    print_plan(&job, &days, args.reprocess, &console);
    execute_plan(&job, &days, &command, &console)
}
