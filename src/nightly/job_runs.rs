//! The `job_runs` table: one row per execution of `run` or of one `backfill` day (Spring Batch's
//! job execution): its steps and their outcome, the replay's counts or error, the thresholds
//! breached, the exit status. Unlike the contract's tables it is a history: each execution adds
//! its own file `job_runs/date=<D>/run-<run id>.parquet` (written atomically), so an earlier
//! attempt of the same date stays visible, failed ones included.

use crate::report::read::{Part, bools, ints, read_table, strs};
use crate::tables::Table;
use crate::tables::writer::stage_partition;
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const TABLE: &str = "job_runs";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Error,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Error => "error",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One step of a run: `reconcile`, `replay`, `reconcile-again`, `report`, `metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub status: StepStatus,
    /// UTC microseconds.
    pub started_at: i64,
    pub duration_ms: i64,
    /// What it did, or why it failed or was skipped (one line, no secrets).
    pub detail: String,
}

/// `ok` all steps ran (or were skipped on purpose); `partial` a step after the first reconcile
/// failed; `failed` the run could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Partial,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

/// The replay step's counts, or its error.
#[derive(Debug, Clone, Default)]
pub struct ReplayRecord {
    /// `ok`, `error`, `skipped` (disabled in the job file).
    pub status: String,
    pub error: Option<String>,
    pub planned: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub parked: i64,
    pub refused: i64,
    pub deferred: i64,
    pub attempts: i64,
}

/// One row of `job_runs`.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub run_id: String,
    pub as_of: i64,
    pub job: String,
    /// `run` or `backfill`.
    pub mode: String,
    /// The backfilled day (`YYYY-MM-DD`), for `backfill`.
    pub day: Option<String>,
    /// The partition date (local date of as-of).
    pub date: String,
    pub window_from: i64,
    pub command: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub status: RunStatus,
    pub exit_code: i32,
    pub reason: Option<String>,
    /// The run whose tables this one replaced (same date).
    pub replaced_run_id: Option<String>,
    pub steps: Vec<Step>,
    pub replay: ReplayRecord,
    pub findings_error: i64,
    pub findings_warning: i64,
    pub findings_info: i64,
    pub threshold_errors: Vec<String>,
    pub threshold_warnings: Vec<String>,
    pub oldest_unresolved_since: Option<i64>,
}

impl JobRun {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.step == name)
    }

    fn step_status(&self, name: &str) -> Option<&'static str> {
        self.step(name).map(|s| s.status.as_str())
    }
}

/// Writes (or rewrites) the row of one execution.
pub fn write(out: &Path, r: &JobRun) -> Result<PathBuf> {
    let one = |v: i64| [Some(v)];
    let t = Table::new(TABLE)
        .text("run_id", [Some(r.run_id.as_str())])
        .ts("as_of", one(r.as_of))
        .text("job", [Some(r.job.as_str())])
        .text("mode", [Some(r.mode.as_str())])
        .text("day", [r.day.as_deref()])
        .text("date", [Some(r.date.as_str())])
        .ts("window_from", one(r.window_from))
        .text("command", [Some(r.command.as_str())])
        .ts("started_at", one(r.started_at))
        .ts("finished_at", one(r.finished_at))
        .int("duration_ms", one((r.finished_at - r.started_at) / 1000))
        .text("status", [Some(r.status.as_str())])
        .int("exit_code", one(i64::from(r.exit_code)))
        .text("reason", [r.reason.as_deref()])
        .text("replaced_run_id", [r.replaced_run_id.as_deref()])
        .text("step_reconcile", [r.step_status("reconcile")])
        .text("step_replay", [r.step_status("replay")])
        .text("step_reconcile_again", [r.step_status("reconcile-again")])
        .text("step_report", [r.step_status("report")])
        .text(
            "steps",
            [Some(serde_json::to_string(&r.steps).unwrap_or_default())],
        )
        .text("replay_status", [Some(r.replay.status.as_str())])
        .text("replay_error", [r.replay.error.as_deref()])
        .int("replay_planned", one(r.replay.planned))
        .int("replay_succeeded", one(r.replay.succeeded))
        .int("replay_failed", one(r.replay.failed))
        .int("replay_parked", one(r.replay.parked))
        .int("replay_refused", one(r.replay.refused))
        .int("replay_deferred", one(r.replay.deferred))
        .int("replay_attempts", one(r.replay.attempts))
        .int("findings_error", one(r.findings_error))
        .int("findings_warning", one(r.findings_warning))
        .int("findings_info", one(r.findings_info))
        .text("threshold_errors", [Some(r.threshold_errors.join(", "))])
        .text(
            "threshold_warnings",
            [Some(r.threshold_warnings.join(", "))],
        )
        .ts("oldest_unresolved_since", [r.oldest_unresolved_since])
        .flag("success", [Some(r.status == RunStatus::Ok)]);
    let mut df = t.finish()?;
    let meta = vec![
        ("pullrecon.run_id".to_owned(), r.run_id.clone()),
        (
            "pullrecon.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ];
    stage_partition(
        out,
        TABLE,
        &r.date,
        &format!("run-{}.parquet", r.run_id),
        &mut df,
        &meta,
    )?
    .commit()
}

/// A row read back: the columns the report and the metrics use.
#[derive(Debug, Clone, Default)]
pub struct JobRunRow {
    pub run_id: String,
    pub job: Option<String>,
    pub mode: Option<String>,
    pub date: String,
    pub as_of: Option<i64>,
    pub finished_at: Option<i64>,
    pub status: Option<String>,
    pub success: bool,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub steps_json: Option<String>,
    pub replay: ReplayRecord,
    pub threshold_errors: Option<String>,
    pub threshold_warnings: Option<String>,
}

/// Every row of `job_runs` in the folder (all dates).
pub fn read_all(out: &Path) -> Result<Vec<JobRunRow>> {
    Ok(read_table(out, TABLE, None)?
        .iter()
        .flat_map(rows)
        .collect())
}

fn rows(p: &Part) -> Vec<JobRunRow> {
    let df = &p.df;
    let s = |n| strs(df, n);
    let i = |n| ints(df, n);
    let (ids, jobs, modes, status, reasons, steps) = (
        s("run_id"),
        s("job"),
        s("mode"),
        s("status"),
        s("reason"),
        s("steps"),
    );
    let (as_of, fin, exit) = (i("as_of"), i("finished_at"), i("exit_code"));
    let (rs, re) = (s("replay_status"), s("replay_error"));
    let rp = [
        i("replay_planned"),
        i("replay_succeeded"),
        i("replay_failed"),
        i("replay_parked"),
        i("replay_refused"),
        i("replay_deferred"),
        i("replay_attempts"),
    ];
    let (te, tw) = (s("threshold_errors"), s("threshold_warnings"));
    let success = bools(df, "success");
    (0..df.height())
        .map(|k| {
            let g = |v: &Vec<Option<i64>>| v[k].unwrap_or(0);
            JobRunRow {
                run_id: ids[k].clone().unwrap_or_default(),
                job: jobs[k].clone(),
                mode: modes[k].clone(),
                date: p.date.clone(),
                as_of: as_of[k],
                finished_at: fin[k],
                status: status[k].clone(),
                success: success[k].unwrap_or(false),
                exit_code: exit[k],
                reason: reasons[k].clone(),
                steps_json: steps[k].clone(),
                replay: ReplayRecord {
                    status: rs[k].clone().unwrap_or_default(),
                    error: re[k].clone(),
                    planned: g(&rp[0]),
                    succeeded: g(&rp[1]),
                    failed: g(&rp[2]),
                    parked: g(&rp[3]),
                    refused: g(&rp[4]),
                    deferred: g(&rp[5]),
                    attempts: g(&rp[6]),
                },
                threshold_errors: te[k].clone(),
                threshold_warnings: tw[k].clone(),
            }
        })
        .collect()
}

/// The finish time of the newest successful execution of a job in the folder.
pub fn last_success(rows: &[JobRunRow], job: &str) -> Option<i64> {
    rows.iter()
        .filter(|r| r.success && r.job.as_deref() == Some(job))
        .filter_map(|r| r.finished_at)
        .max()
}
