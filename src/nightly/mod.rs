//! The nightly pipeline of one run (`pullrecon run`, and each day of `backfill`): reconcile →
//! replay → reconcile again → report → metrics, all under one run id, recorded step by step in
//! the `job_runs` table. A step after the first reconcile that fails (replay above all) is
//! recorded in the run, the report and the metrics, and the run still does its other steps; only
//! a failed first reconcile means "the run could not be done" (exit status 1). The exit status is
//! otherwise the job's thresholds' verdict on the final findings (0, or 3). The caller holds the
//! output folder's lock. Output: human lines on stdout, or JSON lines with `--log-format json`.

mod console;
mod finish;
pub mod job_runs;

pub use console::{Console, one_line, out};
use finish::{finish_lines, write_metrics};

use crate::bsn::Pseudonymiser;
use crate::days::DayWindow;
use crate::job::{Job, Verdict};
use crate::reconcile::{Options, Outcome, now_micros, reconcile};
use crate::replay::{ReplayConfig, ReplaySummary, replay_latest, replayed_log_dir};
use crate::time::{format_duration, format_ts, local_date};
use job_runs::{JobRun, ReplayRecord, RunStatus, Step, StepStatus};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// One run to do.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub job: &'a Job,
    /// UTC microseconds.
    pub as_of: i64,
    /// `backfill`: the day whose events the run reads (as-of is its end).
    pub day: Option<DayWindow>,
    /// `run` or `backfill`.
    pub mode: &'static str,
    pub command: String,
    pub run_id: String,
}

/// What a run did.
#[derive(Debug)]
pub struct RunResult {
    pub record: JobRun,
    pub verdict: Verdict,
    pub exit_code: i32,
    /// The reason, when the run could not be done.
    pub failure: Option<String>,
}

const LOG_EXTENSIONS: [&str; 6] = [
    ".ndjson",
    ".jsonl",
    ".ndjson.gz",
    ".jsonl.gz",
    ".csv",
    ".parquet",
];

/// Whether a folder holds at least one log file.
fn has_logs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.path().is_file()
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| LOG_EXTENSIONS.iter().any(|x| n.ends_with(x)))
        })
    })
}

/// Names, sizes and modification times of a folder's files: tells whether replay added events.
fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<std::time::SystemTime>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    // An empty log (a replay that logged nothing) adds no events.
                    if m.len() == 0 {
                        return None;
                    }
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        m.len(),
                        m.modified().ok(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The reconcile options of a run. The replayed log folder (`replay::replayed_log_dir`) is read
/// as part of the received log, its events counted even after as-of (they were made after the
/// run judged): `run` and `backfill` read it, plain `reconcile` does not.
pub fn options(spec: &RunSpec, pseudonymiser: Pseudonymiser) -> Options {
    let job = spec.job;
    let tz = job.tz();
    let (sent, received) = job.inputs_for(local_date(spec.as_of, tz));
    let replayed = replayed_log_dir(&job.output.dir);
    let replayed = if has_logs(&replayed) {
        vec![replayed.display().to_string()]
    } else {
        Vec::new()
    };
    let lookback = match spec.day {
        Some(w) => w.seconds(),
        None => job.windows.lookback.0,
    };
    Options {
        sent,
        received,
        out: job.output.dir.clone(),
        as_of: spec.as_of,
        grace_seconds: job.windows.grace.0,
        lookback_seconds: lookback,
        push_sla_seconds: job.windows.push_sla.0,
        time_zone: tz,
        senders: job.sender_bases(),
        pseudonymiser,
        command: spec.command.clone(),
        run_id: Some(spec.run_id.clone()),
        replayed,
        window_from: spec.day.map(|w| w.from),
        shard: None,
    }
}

fn reconcile_detail(o: &Outcome) -> String {
    let r = &o.run;
    format!(
        "{} findings ({} error, {} warning, {} info; {} replayable); {} events used from {} files; {} rejects",
        o.findings.len(),
        r.errors,
        r.warnings,
        r.infos,
        r.replayable,
        r.events_used,
        o.ingested_files,
        r.rejects
    )
}

fn replay_detail(s: &ReplaySummary) -> String {
    format!(
        "{} planned, {} succeeded, {} failed, {} parked, {} refused, {} deferred ({} attempts)",
        s.planned, s.succeeded, s.failed, s.parked, s.refused, s.deferred, s.attempts
    )
}

struct Steps<'c> {
    console: &'c Console,
    steps: Vec<Step>,
    total: usize,
}

impl Steps<'_> {
    /// Writes the metrics file and records the step; its path when written.
    fn metrics(
        &mut self,
        job: &Job,
        record: &JobRun,
        tally: Option<(&crate::reconcile::Tally, &Verdict)>,
    ) -> Option<PathBuf> {
        let path = job.metrics_path();
        let t = now_micros();
        match write_metrics(job, record, tally, &path) {
            Ok(()) => {
                self.record("metrics", StepStatus::Ok, t, path.display().to_string());
                Some(path)
            }
            Err(e) => {
                self.record("metrics", StepStatus::Error, t, one_line(&format!("{e:#}")));
                None
            }
        }
    }

    fn record(&mut self, step: &'static str, status: StepStatus, started: i64, detail: String) {
        let s = Step {
            step,
            status,
            started_at: started,
            duration_ms: (now_micros() - started) / 1000,
            detail,
        };
        let n = self.steps.len() + 1;
        let mark = match status {
            StepStatus::Ok => "ok",
            StepStatus::Error => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        self.console.line(format!(
            "[{n}/{}] {:<16} {:<8} {} ({:.1}s)",
            self.total,
            step,
            mark,
            s.detail,
            s.duration_ms as f64 / 1000.0
        ));
        self.console.event(
            "step",
            json!({"step": step, "status": status.as_str(), "duration_ms": s.duration_ms, "detail": s.detail}),
        );
        match status {
            // The first reconcile failing ends the run: its reason is the one line on stderr.
            StepStatus::Error if step != "reconcile" => {
                tracing::warn!(step, detail = %s.detail, "step failed");
            }
            _ => tracing::info!(step, status = status.as_str(), detail = %s.detail, "step done"),
        }
        tracing::debug!(
            step,
            rss_anon_mb = crate::process::rss_anon_mb(),
            "memory after the step"
        );
        self.steps.push(s);
    }
}

/// Does one run; never panics on a failing step. The caller holds the output lock.
pub fn execute(spec: &RunSpec, console: &Console) -> RunResult {
    let job = spec.job;
    let tz = job.tz();
    let out = job.output.dir.clone();
    let started = now_micros();
    let date = local_date(spec.as_of, tz).format("%Y-%m-%d").to_string();
    let lookback = match spec.day {
        Some(w) => w.seconds(),
        None => job.windows.lookback.0,
    };
    let window_from = match spec.day {
        Some(w) => w.from,
        None => spec.as_of - lookback * crate::time::MICROS_PER_SEC,
    };
    let mut record = JobRun {
        run_id: spec.run_id.clone(),
        as_of: spec.as_of,
        job: job.name.clone(),
        mode: spec.mode.to_owned(),
        day: spec.day.map(|w| w.day.format("%Y-%m-%d").to_string()),
        date: date.clone(),
        window_from,
        command: spec.command.clone(),
        started_at: started,
        finished_at: started,
        status: RunStatus::Ok,
        exit_code: 0,
        reason: None,
        replaced_run_id: None,
        steps: Vec::new(),
        replay: ReplayRecord::default(),
        findings_error: 0,
        findings_warning: 0,
        findings_info: 0,
        threshold_errors: Vec::new(),
        threshold_warnings: Vec::new(),
        oldest_unresolved_since: None,
    };
    console.line(format!(
        "pullrecon {}: job {}, run {}, as of {} (date {}, {}), events from {} ({})",
        spec.mode,
        job.name,
        spec.run_id,
        DayWindow::local_text(spec.as_of, tz),
        date,
        tz.name(),
        DayWindow::local_text(window_from, tz),
        format_duration(lookback)
    ));
    console.event(
        "run-start",
        json!({
            "job": job.name, "run_id": spec.run_id, "mode": spec.mode, "day": record.day,
            "as_of": format_ts(spec.as_of), "window_from": format_ts(window_from),
            "date": date, "time_zone": tz.name(), "out": out.display().to_string(),
        }),
    );
    if let Some((prev, prev_as_of, _)) = crate::report::read::run_of_date(&out, &date)
        && prev != spec.run_id
    {
        console.line(format!(
            "date {date} already holds run {prev} (as of {}): this run replaces its tables",
            format_ts(prev_as_of)
        ));
        console.event(
            "replacing",
            json!({"date": date, "previous_run_id": prev, "previous_as_of": format_ts(prev_as_of)}),
        );
        tracing::info!(date = %date, previous_run_id = %prev, "replacing the tables of an earlier run of this date");
        record.replaced_run_id = Some(prev);
    }
    let mut steps = Steps {
        console,
        steps: Vec::new(),
        total: 5,
    };

    // A replay killed in an earlier run may have left events that its journal does not record:
    // they are cut back before the first reconcile reads the replayed log.
    if let Err(e) = crate::replay::recover_interrupted(&out) {
        tracing::warn!(error = %one_line(&format!("{e:#}")), "cannot recover an interrupted replay");
    }

    // 1. reconcile
    let t = now_micros();
    let first = crate::bsn::load_key(
        job.pseudonymisation.key_env.as_deref(),
        job.pseudonymisation.key_file.as_deref(),
    )
    .map(Pseudonymiser::new)
    .and_then(|p| reconcile(&options(spec, p.clone())).map(|o| (o, p)));
    let (outcome, pseudonymiser) = match first {
        Ok((o, p)) => {
            // The tables' batches are freed: the replay starts from what is in use.
            crate::process::release_free_memory();
            steps.record("reconcile", StepStatus::Ok, t, reconcile_detail(&o));
            (std::sync::Arc::new(o), p)
        }
        Err(e) => {
            let reason = one_line(&format!("{e:#}"));
            steps.record("reconcile", StepStatus::Error, t, reason.clone());
            for s in ["replay", "reconcile-again", "report"] {
                steps.record(
                    s,
                    StepStatus::Skipped,
                    now_micros(),
                    "the run could not be done".into(),
                );
            }
            record.steps = steps.steps;
            record.status = RunStatus::Failed;
            record.exit_code = 1;
            record.reason = Some(reason.clone());
            record.replay.status = "skipped".into();
            record.finished_at = now_micros();
            if let Err(e) = job_runs::write(&out, &record) {
                tracing::warn!(error = %one_line(&format!("{e:#}")), "cannot record the failed run in job_runs");
            }
            let mut steps = Steps {
                console,
                steps: Vec::new(),
                total: 5,
            };
            steps.steps = record.steps.clone();
            let written = steps.metrics(job, &record, None);
            finish_lines(
                console,
                &record,
                &Verdict::default(),
                None,
                written.as_deref(),
            );
            return RunResult {
                record,
                verdict: Verdict::default(),
                exit_code: 1,
                failure: Some(reason),
            };
        }
    };

    // 2. replay
    let t = now_micros();
    let replayed = replayed_log_dir(&out);
    let before = fingerprint(&replayed);
    if !job.replay.enabled {
        record.replay.status = "skipped".into();
        steps.record(
            "replay",
            StepStatus::Skipped,
            t,
            "turned off in the job file ([replay] enabled = false)".into(),
        );
    } else {
        let cfg = ReplayConfig {
            out: out.clone(),
            limits: job.replay.clone(),
            senders: job.senders.clone(),
            embedded_sender: job.embedded_sender.clone(),
            dry_run: false,
            run_id: Some(spec.run_id.clone()),
            progress: std::io::stderr().is_terminal() && !console.json && !console.quiet,
            pseudonymiser: Some(pseudonymiser.clone()),
            analysed: Some(outcome.clone()),
            ..Default::default()
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| replay_latest(&cfg)));
        match result {
            Ok(Ok(s)) => {
                record.replay = ReplayRecord {
                    status: "ok".into(),
                    error: None,
                    planned: s.planned as i64,
                    succeeded: s.succeeded as i64,
                    failed: s.failed as i64,
                    parked: s.parked as i64,
                    refused: s.refused as i64,
                    deferred: s.deferred as i64,
                    attempts: s.attempts as i64,
                };
                steps.record("replay", StepStatus::Ok, t, replay_detail(&s));
            }
            Ok(Err(e)) => {
                let reason = one_line(&format!("{e:#}"));
                record.replay.status = "error".into();
                record.replay.error = Some(reason.clone());
                steps.record("replay", StepStatus::Error, t, reason);
            }
            Err(_) => {
                let reason = "the replay stopped on an internal error (a panic)".to_owned();
                record.replay.status = "error".into();
                record.replay.error = Some(reason.clone());
                steps.record("replay", StepStatus::Error, t, reason);
            }
        }
    }

    // The replay was the analysis' last reader: what its findings add up to is all the rest
    // needs (should the second reconcile fail). The second reconcile starts without it.
    let mut tally = outcome.tally();
    drop(outcome);
    crate::process::release_free_memory();
    tracing::debug!(
        rss_anon_mb = crate::process::rss_anon_mb(),
        "the first analysis freed"
    );

    // 3. reconcile again, with what replay pulled
    let t = now_micros();
    if fingerprint(&replayed) == before {
        steps.record(
            "reconcile-again",
            StepStatus::Skipped,
            t,
            "replay added no events".into(),
        );
    } else {
        match reconcile(&options(spec, pseudonymiser)) {
            Ok(o) => {
                steps.record("reconcile-again", StepStatus::Ok, t, reconcile_detail(&o));
                tally = o.tally();
                drop(o);
                crate::process::release_free_memory();
            }
            Err(e) => steps.record(
                "reconcile-again",
                StepStatus::Error,
                t,
                one_line(&format!("{e:#}")),
            ),
        }
    }

    // Thresholds on the final findings.
    let verdict = job.judge(&tally.counts());
    let r = &tally.run;
    record.findings_error = r.errors as i64;
    record.findings_warning = r.warnings as i64;
    record.findings_info = r.infos as i64;
    record.threshold_errors = verdict.errors.iter().map(|b| b.to_string()).collect();
    record.threshold_warnings = verdict.warnings.iter().map(|b| b.to_string()).collect();
    record.oldest_unresolved_since = tally.oldest_unresolved;
    record.exit_code = verdict.exit_code();
    record.steps = steps.steps.clone();
    record.status = status_of(&record.steps);
    record.finished_at = now_micros();
    if let Err(e) = job_runs::write(&out, &record) {
        tracing::warn!(error = %one_line(&format!("{e:#}")), "cannot record the run in job_runs");
    }

    // 4. report (from the tables)
    let t = now_micros();
    let report_path = job.report_path();
    let mut report_written = None;
    match crate::report::write_report(&out, Some(&spec.run_id), &report_path) {
        Ok(_) => {
            steps.record(
                "report",
                StepStatus::Ok,
                t,
                report_path.display().to_string(),
            );
            report_written = Some(report_path);
        }
        Err(e) => steps.record("report", StepStatus::Error, t, one_line(&format!("{e:#}"))),
    }
    record.steps = steps.steps.clone();
    record.status = status_of(&record.steps);
    record.finished_at = now_micros();
    if let Err(e) = job_runs::write(&out, &record) {
        tracing::warn!(error = %one_line(&format!("{e:#}")), "cannot record the run in job_runs");
    }

    // 5. metrics (not a step of the recorded run: it reports on it)
    let metrics_written = steps.metrics(job, &record, Some((&tally, &verdict)));
    console.text(&crate::reconcile::summary(&tally));
    finish_lines(
        console,
        &record,
        &verdict,
        report_written.as_deref(),
        metrics_written.as_deref(),
    );
    RunResult {
        exit_code: record.exit_code,
        record,
        verdict,
        failure: None,
    }
}

fn status_of(steps: &[Step]) -> RunStatus {
    if steps.iter().any(|s| s.status == StepStatus::Error) {
        RunStatus::Partial
    } else {
        RunStatus::Ok
    }
}

/// The holder text written into the lock file.
pub fn lock_holder(job: &Job, what: &str) -> String {
    format!(
        "job {} ({what}), pid {}, since {}",
        job.name,
        std::process::id(),
        format_ts(now_micros())
    )
}
