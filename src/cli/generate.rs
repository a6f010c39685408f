//! `pullrecon generate`: synthetic sent and received logs with known faults, for demos, tests and
//! benchmarks, plus `expected.json` with the exact number of findings per category that
//! `pullrecon reconcile` must report for them (at the as-of, grace, lookback and push SLA it names).
//!
//! Usage: pullrecon generate --out DIR --notifications N [--seed S] [--rate CATEGORY=RATE]…
//!        [--as-of TS] [--parts P]
//!
//! Writes DIR/sent/*.ndjson, DIR/received/*.ndjson and DIR/expected.json. A rate is the number of
//! fault scenarios of that category per notification (each gives exactly one finding); every
//! category has a default, so every category occurs.

use crate::generate::{Config, DEFAULT_AS_OF, generate};
use anyhow::Result;
use std::path::PathBuf;

/// Synthetic sent and received logs with known faults, and the expected findings per category.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write the logs into (sent/, received/, expected.json).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many notifications.
    #[arg(long, value_name = "N")]
    pub notifications: u64,
    /// Seed of the generator (the same seed gives the same files).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Fault scenarios of a finding category per notification, e.g. pull-failed=0.01 (repeatable).
    #[arg(long = "rate", value_name = "CATEGORY=RATE")]
    pub rates: Vec<String>,
    /// The as-of the expected counts hold for (RFC 3339).
    #[arg(long, value_name = "TS", default_value = DEFAULT_AS_OF, value_parser = super::parse_ts_arg)]
    pub as_of: i64,
    /// Files per kind of log (default: one per 25,000 notifications, 2 to 64).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parts: Option<u32>,
    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &Args, _command: String) -> Result<i32> {
    let mut cfg = Config::new(args.notifications, args.seed);
    for r in &args.rates {
        if let Err(e) = cfg.set_rate(r) {
            eprintln!("pullrecon: {e:#}");
            return Ok(2);
        }
    }
    cfg.as_of = args.as_of;
    cfg.parts = args.parts;
    let s = generate(&cfg, &args.out)?;
    if !args.quiet {
        println!(
            "pullrecon generate: {} notifications in {} groups, {} pushed messages (seed {})",
            s.notifications, s.groups, s.pushes, cfg.seed
        );
        println!(
            "  {} sent and {} received lines, {:.1} MB in {} files under {}",
            s.sent_lines,
            s.received_lines,
            s.bytes as f64 / 1e6,
            s.files.len(),
            args.out.display()
        );
        println!(
            "  expected findings: {} (per category in {})",
            s.findings.values().sum::<u64>(),
            args.out.join("expected.json").display()
        );
    }
    Ok(0)
}
