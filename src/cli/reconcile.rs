//! `pullrecon reconcile`: reads both logs, writes the audit tables for one run; no network.
//!
//! Usage: pullrecon reconcile --sent PATH… --received PATH… (--out DIR | --dry-run) [--as-of TS]
//!        [--grace DUR] [--lookback DUR] [--push-sla DUR] [--time-zone TZ] [--sender ORG=URL]…
//!        [--bsn-key-env VAR | --bsn-key-file PATH] [--shard I/N]
//!
//! PATH is a file, a directory (all log files in it) or a glob; formats by extension (.ndjson,
//! .jsonl, optionally .gz; .csv; .parquet). Tables go to DIR/<table>/date=<local date of as-of>/.
//! With `--shard I/N` the run keeps only the groups whose hash falls in shard I of N (a group
//! never splits; pushes, stray pulls and cancellations go by their own identifier) and writes its
//! tables as `part-I-of-N.parquet` beside the other shards' parts: N machines (a Kubernetes Indexed
//! Job, see cron/) together give one unsharded run's rows. Every shard reads all the input.
//! Each input's sha256 (in `input_files` and `runs`) is remembered in DIR/.pullrecon-digests.json
//! with the file's stamp (device, inode, size, modification and change time), so a later run over
//! an unchanged file does not read it again to hash it; delete the file to have every input hashed.
//! `--dry-run` reads and checks the same way and prints the same summary with the same exit
//! status, but writes nothing and hashes nothing: a preview of what a window and its parameters
//! would find, without touching the audit tables (`--out` is then not needed).
//! Exit status: 0 no error findings, 3 error findings, 2 usage error, 1 the run could not be done.

use crate::bsn::{Pseudonymiser, load_key};
use crate::reconcile::{Options, analyse, now_micros, reconcile, summary};
use anyhow::Result;
use std::path::PathBuf;

/// Reads both logs and writes the audit tables for one run (no network).
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("output").required(true).multiple(true).args(["out", "dry_run"])),
    after_help = "Exit status: 0 ran without error findings; 3 ran with error findings; \
2 usage error; 1 the run could not be done."
)]
pub struct Args {
    /// The sending side's log: files, directories or globs.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub sent: Vec<String>,

    /// The receiving side's log: files, directories or globs.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub received: Vec<String>,

    /// Output folder of the audit tables (not needed with --dry-run).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Read and check, print the summary and exit as a run would, but write nothing (no tables,
    /// no remembered digests) and hash no input.
    #[arg(long)]
    pub dry_run: bool,

    /// The moment the run judges at (RFC 3339); later events are ignored. Default: now.
    #[arg(long, value_name = "TS", value_parser = super::parse_ts_arg)]
    pub as_of: Option<i64>,

    /// How long after sending a notification is judged for delivery.
    #[arg(long, value_name = "DUR", default_value = "15m", value_parser = super::parse_duration_arg)]
    pub grace: i64,

    /// How far back from as-of events are read.
    #[arg(long, value_name = "DUR", default_value = "30d", value_parser = super::parse_duration_arg)]
    pub lookback: i64,

    /// How soon a received push must be processed.
    #[arg(long, value_name = "DUR", default_value = "24h", value_parser = super::parse_duration_arg)]
    pub push_sla: i64,

    /// Time zone of the run's date partition.
    #[arg(long, value_name = "TZ", default_value = "Europe/Amsterdam", value_parser = super::parse_tz_arg)]
    pub time_zone: chrono_tz::Tz,

    /// A sender's FHIR base for pulls, when the log has no sender_base: ORGANISATION=URL.
    #[arg(long = "sender", value_name = "ORG=URL", value_parser = super::parse_sender_arg)]
    pub senders: Vec<(String, String)>,

    /// Environment variable holding the key for BSN pseudonyms (HMAC-SHA256).
    #[arg(long, value_name = "VAR", conflicts_with = "bsn_key_file")]
    pub bsn_key_env: Option<String>,

    /// File holding the key for BSN pseudonyms (HMAC-SHA256).
    #[arg(long, value_name = "PATH")]
    pub bsn_key_file: Option<PathBuf>,

    /// Only shard I of N: the groups whose hash falls in it, written as part-I-of-N files beside
    /// the other shards' parts (0 <= I < N; e.g. 2/4). Parts of another N are replaced.
    #[arg(long, value_name = "I/N", value_parser = super::parse_shard_arg)]
    pub shard: Option<(u32, u32)>,

    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Args {
    pub fn options(&self, command: String) -> Result<Options> {
        let key = load_key(self.bsn_key_env.as_deref(), self.bsn_key_file.as_deref())?;
        Ok(Options {
            sent: self.sent.clone(),
            received: self.received.clone(),
            out: self.out.clone().unwrap_or_default(),
            as_of: self.as_of.unwrap_or_else(now_micros),
            grace_seconds: self.grace,
            lookback_seconds: self.lookback,
            push_sla_seconds: self.push_sla,
            time_zone: self.time_zone,
            senders: self.senders.iter().cloned().collect(),
            pseudonymiser: Pseudonymiser::new(key),
            command,
            run_id: None,
            replayed: Vec::new(),
            window_from: None,
            shard: self.shard,
        })
    }
}

/// Runs the command; returns the exit status.
pub fn run(args: &Args, command: String) -> Result<i32> {
    let opts = args.options(command)?;
    let outcome = if args.dry_run {
        analyse(&opts)?
    } else {
        reconcile(&opts)?
    };
    if !args.quiet {
        print!("{}", summary(&outcome.tally()));
    }
    tracing::info!(
        run_id = %outcome.run.run_id,
        findings = outcome.findings.len(),
        rejects = outcome.run.rejects,
        dry_run = args.dry_run,
        "reconcile finished"
    );
    Ok(outcome.exit_code())
}
