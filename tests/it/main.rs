//! The one integration-test binary (one link of polars, not many). Modules mirror the commands
//! and the stages: the Task reader, rejects, the written tables, the `reconcile` command, the
//! bundled sample data, and one table-driven test per finding category.

mod common;

mod bad_input;
mod cmd_reconcile;
mod fuzz_regressions;
mod rejects;
mod sample;
mod secrets;
mod tables;
mod tasks;

mod categories;

mod generate;
mod scale;
mod shards;

// Nightly operations (#4): job files, run, backfill, report, metrics.
mod backfill;
mod jobs;
mod metrics;
mod report;
mod run;

mod replay;
mod replay_faults;
mod replay_resume;
mod replay_safety;
mod replay_sekmet;
mod sender_faults;

// Crash safety (#6): kill -9 at random moments of reconcile, replay and run.
mod crash_safety;
