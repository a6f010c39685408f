//! `pullrecon replay`: performs the replayable retrievals of the latest run in DIR and writes what
//! it did.
//!
//! Usage: pullrecon replay --out DIR [--dry-run] [--concurrency N] [--per-host N]
//!        [--max-attempts N] [--batch-size N] [--budget DUR] [--job FILE] [--sender ORG=URL]…
//!        [--embedded-sender DIR] [--bsn-key-env VAR | --bsn-key-file PATH]
//!
//! The plan is the latest run's replayable findings, rebuilt from that run's inputs (each must be
//! unchanged: its sha256 is checked). Requests go only to the base configured for the sending
//! organisation (`--sender`, the job file's `senders`, or the run's own `--sender` parameters).
//! Results: `DIR/replay_attempts/` (one row per attempt), `DIR/landing/` (the resources),
//! `DIR/replayed/` (the attempts as received-log events for the next reconcile).
//! Exit status: 0 nothing needs attention; 3 items failed or were parked; 2 usage error; 1 the
//! replay could not be done.

use crate::bsn::{Pseudonymiser, load_key};
use crate::job::{Job, Sender, TokenSource};
use crate::replay::{ReplayConfig, replay_latest};
use anyhow::{Result, bail};
use std::path::PathBuf;

/// Performs the replayable retrievals of the latest run in DIR.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 nothing failed that needs attention; 3 items failed or were parked; \
2 usage error; 1 the replay could not be done."
)]
pub struct Args {
    /// The output folder of the run to replay (default: the job file's output folder).
    #[arg(long, value_name = "DIR", required_unless_present = "job")]
    pub out: Option<PathBuf>,
    /// Print the plan and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Requests in flight at once, over all senders.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Requests in flight at once per sender host.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: Option<u32>,
    /// Attempts in all, over runs, before an item is parked.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: Option<u32>,
    /// Items per batch; a checkpoint is written after each.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Total time the replay may take (e.g. 30m).
    #[arg(long, value_name = "DUR", value_parser = super::parse_duration_arg)]
    pub budget: Option<i64>,
    /// A job file: its senders (with token sources), replay limits, embedded sender and BSN key.
    #[arg(long, value_name = "FILE")]
    pub job: Option<PathBuf>,
    /// A sender's FHIR base: ORGANISATION=URL (wins over the job file and the run's parameters).
    #[arg(long = "sender", value_name = "ORG=URL", value_parser = super::parse_sender_arg)]
    pub senders: Vec<(String, String)>,
    /// Serve this folder as a loopback FHIR sender and send every request there (demo). The folder
    /// is a snapshot of the run's night: the replay then acts at the run's as-of.
    #[arg(long, value_name = "DIR")]
    pub embedded_sender: Option<PathBuf>,
    /// Environment variable holding the key for BSN pseudonyms (HMAC-SHA256).
    #[arg(long, value_name = "VAR", conflicts_with = "bsn_key_file")]
    pub bsn_key_env: Option<String>,
    /// File holding the key for BSN pseudonyms (HMAC-SHA256).
    #[arg(long, value_name = "PATH")]
    pub bsn_key_file: Option<PathBuf>,
    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Args {
    /// The replay's configuration: the job file's, with the flags winning.
    pub fn config(&self) -> Result<ReplayConfig> {
        let job = self.job.as_deref().map(Job::load).transpose()?;
        let mut cfg = ReplayConfig {
            progress: true,
            ..ReplayConfig::default()
        };
        if let Some(j) = &job {
            cfg.out = j.output.dir.clone();
            cfg.limits = j.replay.clone();
            cfg.senders = j.senders.clone();
            cfg.embedded_sender = j.embedded_sender.clone();
        }
        if let Some(out) = &self.out {
            cfg.out = out.clone();
        }
        if let Some(n) = self.concurrency {
            cfg.limits.concurrency = n as usize;
        }
        if let Some(n) = self.per_host {
            cfg.limits.per_host = n as usize;
        }
        if let Some(n) = self.max_attempts {
            cfg.limits.max_attempts = n;
        }
        if let Some(n) = self.batch_size {
            cfg.limits.batch_size = n as usize;
        }
        if let Some(b) = self.budget {
            cfg.limits.budget = crate::job::Dur(b);
        }
        for (org, base) in &self.senders {
            cfg.senders.retain(|s| &s.organisation != org);
            cfg.senders.push(Sender {
                organisation: org.clone(),
                base: base.clone(),
                token: TokenSource::None,
            });
        }
        if let Some(d) = &self.embedded_sender {
            cfg.embedded_sender = Some(d.clone());
        }
        let (key_env, key_file) = match (&self.bsn_key_env, &self.bsn_key_file, &job) {
            (None, None, Some(j)) => (
                j.pseudonymisation.key_env.clone(),
                j.pseudonymisation.key_file.clone(),
            ),
            _ => (self.bsn_key_env.clone(), self.bsn_key_file.clone()),
        };
        let key = load_key(key_env.as_deref(), key_file.as_deref())?;
        cfg.pseudonymiser = Some(Pseudonymiser::new(key));
        cfg.dry_run = self.dry_run;
        if !cfg.out.is_dir() {
            bail!("{} is not a folder with a run in it", cfg.out.display());
        }
        Ok(cfg)
    }
}

/// Runs the command; returns the exit status.
pub fn run(args: &Args, _command: String) -> Result<i32> {
    let cfg = args.config()?;
    let summary = replay_latest(&cfg)?;
    if !args.quiet {
        print!("{}", summary.text);
    }
    Ok(if cfg.dry_run { 0 } else { summary.exit_code() })
}
