//! Backfill: one run per local calendar day, oldest first, at most one day in flight, resumable.
//! Day D runs as of local midnight of D+1 and reads the events of exactly that day (23 or 25
//! hours across DST changes; see `days`), through the same pipeline as `run`. Its tables land in
//! the partition of its as-of date, D+1 (the contract partitions by the date of as-of).
//!
//! Progress lives in `<out>/backfill-state.json` (written atomically, only under the output
//! folder's lock): per day its status (`running`, `done`, `failed`) and every attempt. A day left
//! `running` was interrupted (the process was killed: the lock went with it). Reprocess modes, as
//! in Airflow: `missing` (default) runs the days never finished (new or interrupted); `failed`
//! also those that could not be done; `all` every day.

use crate::days::{DayWindow, dates};
use crate::job::Job;
use crate::nightly::{Console, RunSpec, execute};
use crate::reconcile::{new_run_id, now_micros};
use crate::time::format_ts;
use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which days a backfill runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reprocess {
    /// Days never finished: new ones and interrupted ones.
    Missing,
    /// Also the days whose run could not be done.
    Failed,
    /// Every day of the range.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    Running,
    Done,
    Failed,
}

impl DayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::Running => "running",
            DayStatus::Done => "done",
            DayStatus::Failed => "failed",
        }
    }
}

/// One attempt at a day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attempt {
    pub run_id: String,
    pub pid: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: DayStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

/// A day's state: its last attempt's status and all attempts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DayState {
    pub job: String,
    pub status: DayStatus,
    pub attempts: Vec<Attempt>,
}

/// The state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    pub version: u32,
    /// `YYYY-MM-DD` → state.
    pub days: BTreeMap<String, DayState>,
}

pub fn state_path(out: &Path) -> PathBuf {
    out.join("backfill-state.json")
}

impl State {
    pub fn load(out: &Path) -> Result<State> {
        let path = state_path(out);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "the backfill state file {} is not readable JSON",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                version: 1,
                days: BTreeMap::new(),
            }),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the state atomically (temporary file, sync, rename).
    pub fn save(&self, out: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        crate::tables::writer::write_file_atomic(
            &state_path(out),
            text.as_bytes(),
            "backfill state",
        )
    }
}

/// What the plan does with a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Run,
    /// Interrupted earlier: run again.
    Resume,
    /// Finished or failed earlier, run again by the reprocess mode.
    Rerun,
    Skip,
}

impl Reprocess {
    pub fn as_str(self) -> &'static str {
        match self {
            Reprocess::Missing => "missing",
            Reprocess::Failed => "failed",
            Reprocess::All => "all",
        }
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::Resume => "resume",
            Action::Rerun => "rerun",
            Action::Skip => "skip",
        }
    }
    pub fn runs(self) -> bool {
        self != Action::Skip
    }
}

#[derive(Debug, Clone)]
pub struct PlannedDay {
    pub window: DayWindow,
    /// The partition its tables go to (the local date of its as-of).
    pub partition: String,
    pub previous: Option<DayStatus>,
    pub action: Action,
}

/// The plan: every day of the range, oldest first, with what to do.
pub fn plan(
    job: &Job,
    from: NaiveDate,
    to: NaiveDate,
    reprocess: Reprocess,
    state: &State,
) -> Result<Vec<PlannedDay>> {
    let tz = job.tz();
    let mut out = Vec::new();
    for day in dates(from, to) {
        let window = DayWindow::of(day, tz)
            .ok_or_else(|| anyhow!("{day} has no local midnight in {}", tz.name()))?;
        let key = day.format("%Y-%m-%d").to_string();
        let previous = state.days.get(&key).map(|d| d.status);
        let action = match (previous, reprocess) {
            (None, _) => Action::Run,
            (Some(DayStatus::Running), _) => Action::Resume,
            (Some(_), Reprocess::All) => Action::Rerun,
            (Some(DayStatus::Failed), Reprocess::Failed) => Action::Rerun,
            (Some(_), _) => Action::Skip,
        };
        out.push(PlannedDay {
            window,
            partition: crate::time::local_date(window.to, tz)
                .format("%Y-%m-%d")
                .to_string(),
            previous,
            action,
        });
    }
    Ok(out)
}

/// Prints the plan (human table or JSON events).
pub fn print_plan(job: &Job, days: &[PlannedDay], reprocess: Reprocess, console: &Console) {
    let tz = job.tz();
    let n = days.iter().filter(|d| d.action.runs()).count();
    console.line(format!(
        "pullrecon backfill: job {}, {} day(s) in {}, reprocess {}: {} to run, oldest first, one at a time",
        job.name,
        days.len(),
        tz.name(),
        reprocess.as_str(),
        n
    ));
    console.line(format!(
        "  {:<10}  {:<25}  {:<25}  {:>5}  {:<15}  {:<7}  action",
        "day", "from (local)", "as of (local)", "hours", "partition", "state"
    ));
    for d in days {
        let w = d.window;
        console.line(format!(
            "  {:<10}  {:<25}  {:<25}  {:>5}  date={:<10}  {:<7}  {}",
            w.day,
            DayWindow::local_text(w.from, tz),
            DayWindow::local_text(w.to, tz),
            w.seconds() / 3600,
            d.partition,
            d.previous.map(DayStatus::as_str).unwrap_or("-"),
            d.action.as_str()
        ));
        console.event(
            "plan-day",
            json!({
                "job": job.name, "day": w.day.to_string(), "from": format_ts(w.from),
                "as_of": format_ts(w.to), "hours": w.seconds() as f64 / 3600.0,
                "partition": d.partition, "state": d.previous.map(DayStatus::as_str),
                "action": d.action.as_str(),
            }),
        );
    }
}

/// Runs the plan's days, oldest first, one at a time, recording each in the state file. The
/// caller holds the output folder's lock. Returns the exit status: 1 when a day could not be
/// done, else 3 when a day was over an error threshold, else 0.
pub fn execute_plan(
    job: &Job,
    days: &[PlannedDay],
    command: &str,
    console: &Console,
) -> Result<i32> {
    let out = &job.output.dir;
    let mut state = State::load(out)?;
    let mut worst = 0;
    let mut failed = Vec::new();
    let todo: Vec<&PlannedDay> = days.iter().filter(|d| d.action.runs()).collect();
    for (i, d) in todo.iter().enumerate() {
        let key = d.window.day.format("%Y-%m-%d").to_string();
        let run_id = new_run_id(now_micros());
        console.line(format!(
            "== day {key} ({}/{}): {}",
            i + 1,
            todo.len(),
            d.action.as_str()
        ));
        let attempt = Attempt {
            run_id: run_id.clone(),
            pid: std::process::id(),
            started_at: format_ts(now_micros()),
            finished_at: None,
            status: DayStatus::Running,
            exit_code: None,
            reason: None,
        };
        let entry = state.days.entry(key.clone()).or_insert_with(|| DayState {
            job: job.name.clone(),
            status: DayStatus::Running,
            attempts: Vec::new(),
        });
        entry.job = job.name.clone();
        entry.status = DayStatus::Running;
        entry.attempts.push(attempt);
        state.save(out)?;

        let spec = RunSpec {
            job,
            as_of: d.window.to,
            day: Some(d.window),
            mode: "backfill",
            command: format!("{command} [day {key}]"),
            run_id: run_id.clone(),
        };
        let result = execute(&spec, console);
        let status = if result.failure.is_some() {
            DayStatus::Failed
        } else {
            DayStatus::Done
        };
        if let Some(entry) = state.days.get_mut(&key) {
            entry.status = status;
            if let Some(a) = entry.attempts.last_mut() {
                a.finished_at = Some(format_ts(now_micros()));
                a.status = status;
                a.exit_code = Some(result.exit_code);
                a.reason = result.failure.clone();
            }
        }
        state.save(out)?;
        match status {
            DayStatus::Failed => {
                if let Some(r) = &result.failure {
                    eprintln!("pullrecon: backfill day {key} could not be done: {r}");
                }
                failed.push(key);
            }
            _ => worst = worst.max(result.exit_code),
        }
    }
    let code = if failed.is_empty() { worst } else { 1 };
    console.line(format!(
        "backfill finished: {} day(s) run, {} could not be done{}; exit status {code}",
        todo.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(
                " ({}; rerun them with --reprocess failed)",
                failed.join(", ")
            )
        }
    ));
    console.event(
        "backfill-end",
        json!({"job": job.name, "days_run": todo.len(), "failed": failed, "exit_code": code}),
    );
    Ok(code)
}
