//! The command line: one clap subcommand per module, whose documentation is the usage text.

pub mod backfill;
pub mod generate;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod run;

use clap::{Parser, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};

static JSON_OUTPUT: AtomicBool = AtomicBool::new(false);

/// `--log-format json`: `run`, `backfill` and `report` then write JSON lines on stdout too.
pub fn set_json_output(on: bool) {
    JSON_OUTPUT.store(on, Ordering::Relaxed);
}

/// Whether stdout carries JSON lines (for log shippers) rather than human text.
pub fn json_output() -> bool {
    JSON_OUTPUT.load(Ordering::Relaxed)
}

/// Reconciles Twiin Notified Pull and Push exchange logs, re-pulls what may still be pulled, and
/// writes Parquet audit tables.
#[derive(Debug, Parser)]
#[command(name = "pullrecon", version, about, propagate_version = true)]
pub struct Cli {
    /// Log level on stderr (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,

    /// Log lines as JSON, for log shippers.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Reconcile(reconcile::Args),
    Replay(replay::Args),
    Run(run::Args),
    Backfill(backfill::Args),
    Report(report::Args),
    Generate(generate::Args),
}

impl Command {
    /// Runs the subcommand; returns the exit status. `command` is the command line, for `runs`.
    pub fn dispatch(&self, command: String) -> anyhow::Result<i32> {
        match self {
            Command::Reconcile(a) => reconcile::run(a, command),
            Command::Replay(a) => replay::run(a, command),
            Command::Run(a) => run::run(a, command),
            Command::Backfill(a) => backfill::run(a, command),
            Command::Report(a) => report::run(a, command),
            Command::Generate(a) => generate::run(a, command),
        }
    }
}

/// Parses an RFC 3339 timestamp argument into UTC microseconds.
pub fn parse_ts_arg(s: &str) -> Result<i64, String> {
    crate::time::parse_rfc3339(s).map_err(|e| match e {
        crate::time::TsError::NoOffset => {
            format!("'{s}' has no UTC offset: write it as RFC 3339, e.g. 2026-11-20T05:00:00Z")
        }
        crate::time::TsError::Invalid => {
            format!("'{s}' is not an RFC 3339 timestamp, e.g. 2026-11-20T05:00:00+01:00")
        }
    })
}

/// Parses a duration argument (`15m`, `36h`, `14d`) into seconds.
pub fn parse_duration_arg(s: &str) -> Result<i64, String> {
    crate::time::parse_duration(s)
}

/// Parses a shard `I/N` (0 ≤ I < N ≤ 1024) into (I, N).
pub fn parse_shard_arg(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not a shard I/N with 0 <= I < N <= 1024, such as 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u32>().map_err(|_| bad())?,
        n.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if n == 0 || n > 1024 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Parses an IANA time zone name.
pub fn parse_tz_arg(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("'{s}' is not an IANA time zone name such as Europe/Amsterdam"))
}

/// Parses `ORGANISATION=URL` (organisation as `system|value`).
pub fn parse_sender_arg(s: &str) -> Result<(String, String), String> {
    let (org, url) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("'{s}': expected ORGANISATION=BASE_URL"))?;
    if crate::fhir::request::origin(url).is_none() {
        return Err(format!("'{url}' is not an http(s) URL"));
    }
    Ok((
        org.trim().to_owned(),
        url.trim().trim_end_matches('/').to_owned(),
    ))
}
