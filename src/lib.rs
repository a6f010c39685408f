//! pullrecon: the safety net under Twiin Notified Pull and Push exchanges.
//!
//! Data flows one way: `ingest` (log files → events and rejects) → `model` (notifications,
//! groups, expected requests, pulls, pushes) → `checks` (one rule per finding category) →
//! `tables` (Parquet audit tables) → the text summary. `reconcile` ties them into one run.
//!
//! Bad input is an error value, never a panic: outside tests the code has no `unwrap`, `expect`
//! or `panic!` (clippy holds it to that).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod backfill;
pub mod bsn;
pub mod checks;
pub mod cli;
pub mod days;
pub mod fhir;
pub mod generate;
pub mod ingest;
pub mod job;
pub mod lock;
pub mod metrics;
pub mod model;
pub mod nightly;
pub mod process;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod secret;
pub mod tables;
pub mod time;
