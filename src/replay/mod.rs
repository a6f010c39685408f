//! Replay: turns the replayable findings of the latest run in an output folder into retrievals and
//! performs them against the senders' FHIR servers in bounded parallel batches, with retries,
//! checkpoints, a durable journal and an audit row per attempt.
//!
//! The parts, one module each: `plan` (latest run → verified inputs → model → items), `retry`
//! (what is retryable: the `RetryLogic` policy) apart from `backoff` (how long to wait), `hosts`
//! (global and per-host limits, circuit breakers), `token` (bearer tokens, cached), `client` and
//! `classify` (the HTTP request and what its answer means), `journal` (append + fsync, resume
//! state, checkpoints), `landing` (retrieved resources), `events` (the replayed received log),
//! `attempts` (the `replay_attempts` table), `embedded` (the loopback demo sender) and `exec`
//! (the scheduler that ties them together).

pub mod attempts;
pub mod backoff;
pub mod classify;
pub mod client;
pub mod clock;
pub mod embedded;
pub mod events;
pub mod exec;
pub mod hosts;
mod item;
pub mod journal;
pub mod landing;
pub mod plan;
pub mod retry;
pub mod token;

use crate::bsn::Pseudonymiser;
use crate::job::{ReplayLimits, Sender};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What a replay needs besides the run it replays.
#[derive(Debug, Clone, Default)]
pub struct ReplayConfig {
    /// The output folder of the run (its tables, checkpoints and landing zone).
    pub out: PathBuf,
    pub limits: ReplayLimits,
    /// Configured senders (organisation → base, token source). Requests go to these only.
    pub senders: Vec<Sender>,
    /// Serve this folder as a loopback sender and send every request there (the sample job).
    pub embedded_sender: Option<PathBuf>,
    /// Print the plan; send nothing.
    pub dry_run: bool,
    /// The run id to record (the nightly `run` uses one id for all its steps).
    pub run_id: Option<String>,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
    /// The key for the patient pseudonyms in `replay_attempts` (None: the column stays empty).
    pub pseudonymiser: Option<Pseudonymiser>,
    /// The acting system recorded per attempt (NEN 7513 "which system"); default
    /// `pullrecon/<version>`.
    pub acting_system: Option<String>,
    /// Tests only: the wall-clock instant (UTC microseconds) the replay takes as its start; the
    /// replay's clock runs on from it. `None` (always, outside tests): the real clock, or with an
    /// `embedded_sender` the run's as-of (the served folder is a snapshot of that night).
    pub clock_start: Option<i64>,
    /// The latest run's analysis when the caller has just made it (`run`, `backfill`, under the
    /// same lock): the plan takes it instead of verifying and reading the run's inputs again.
    /// Ignored unless it is the latest run's.
    pub analysed: Option<std::sync::Arc<crate::reconcile::Outcome>>,
    /// Tests only: a seed for the backoff jitter (None: random).
    pub seed: Option<u64>,
}

/// What a replay did, for the summary, the metrics and the exit status.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    pub run_id: String,
    pub planned: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Items whose attempts are used up: dead letters, never retried automatically.
    pub parked: usize,
    /// Items refused for safety (off-origin URL, no configured sender, cancelled, expired, …).
    pub refused: usize,
    /// Items left for the next run (budget, Retry-After beyond the budget, open breaker).
    pub deferred: usize,
    pub attempts: usize,
    /// The reconcile run the plan came from.
    pub reconcile_run_id: String,
    /// Items skipped because an earlier replay already pulled them.
    pub already_done: usize,
    /// Wall time of the sending phase, in seconds (for the benchmark).
    pub send_seconds: f64,
    /// Files written (replay_attempts partition, landing files, replayed log).
    pub written: Vec<PathBuf>,
    /// The human text: the plan (dry run) or what was done.
    pub text: String,
}

impl ReplaySummary {
    /// The exit status of `pullrecon replay`: 3 when items failed or were parked, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 || self.parked > 0 {
            3
        } else {
            0
        }
    }
}

/// Performs the replayable retrievals of the latest run in `cfg.out`. Synchronous: it runs its own
/// tokio runtime, so call it from outside an async context (or use [`replay_latest_async`]).
pub fn replay_latest(cfg: &ReplayConfig) -> Result<ReplaySummary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the replay's runtime")?;
    rt.block_on(replay_latest_async(cfg))
}

/// [`replay_latest`] for callers that already run in a tokio runtime.
pub async fn replay_latest_async(cfg: &ReplayConfig) -> Result<ReplaySummary> {
    exec::replay(cfg).await
}

/// The folder where replay writes its attempts as received-log events (NDJSON), which every
/// later reconcile of the same output folder reads as part of the received log.
pub fn replayed_log_dir(out: &Path) -> PathBuf {
    out.join("replayed")
}

/// Recovers the killed replays of `out` (their `replay_attempts` files; their unfinished last
/// batch cut back), under the replay lock: `run` and `backfill` call it before their first
/// reconcile reads the replayed log. Nothing when no replay ran there or one is running now.
pub fn recover_interrupted(out: &Path) -> Result<Vec<PathBuf>> {
    if !journal::journal_dir(out).is_dir() {
        return Ok(Vec::new());
    }
    let Ok(_lock) = journal::lock(out) else {
        return Ok(Vec::new());
    };
    journal::recover(out)
}

/// The folder of replay's own state: journals, checkpoint and lock (`_` keeps it out of
/// Hive-style readers of `DIR`).
pub fn state_dir(out: &Path) -> PathBuf {
    out.join("_replay")
}
