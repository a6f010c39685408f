//! The end of a run: its metrics file and its closing lines.

use super::Console;
use super::job_runs::{self, JobRun, RunStatus, StepStatus};
use crate::job::{Job, Verdict};
use crate::metrics::RunMetrics;
use crate::reconcile::Tally;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn write_metrics(
    job: &Job,
    record: &JobRun,
    outcome: Option<(&Tally, &Verdict)>,
    path: &Path,
) -> anyhow::Result<()> {
    let history = job_runs::read_all(&job.output.dir).unwrap_or_default();
    let mut last_success = job_runs::last_success(&history, &job.name);
    if record.status == RunStatus::Ok {
        last_success = Some(last_success.map_or(record.finished_at, |t| t.max(record.finished_at)));
    }
    let mut m = RunMetrics {
        job: job.name.clone(),
        run_id: record.run_id.clone(),
        as_of: record.as_of,
        started_at: record.started_at,
        finished_at: record.finished_at,
        success: record.status == RunStatus::Ok,
        exit_code: record.exit_code,
        steps: record
            .steps
            .iter()
            .map(|s| (s.step.to_owned(), s.status != StepStatus::Error))
            .collect(),
        replay_enabled: job.replay.enabled,
        replay: vec![
            ("planned", record.replay.planned),
            ("succeeded", record.replay.succeeded),
            ("failed", record.replay.failed),
            ("parked", record.replay.parked),
            ("refused", record.replay.refused),
            ("deferred", record.replay.deferred),
        ],
        replay_attempts: record.replay.attempts,
        last_success,
        ..Default::default()
    };
    if let Some((o, v)) = outcome {
        let f: BTreeMap<_, _> = o
            .by_category
            .iter()
            .map(|((cat, sev), (n, _))| (((*cat).to_owned(), sev.as_str().to_owned()), *n))
            .collect();
        m.findings = Some(f);
        m.unresolved = o.unresolved;
        m.oldest_unresolved_age_seconds = o
            .oldest_unresolved
            .map(|s| ((o.run.as_of - s) as f64 / 1e6).max(0.0));
        m.threshold_errors = v.errors.len();
        m.threshold_warnings = v.warnings.len();
        m.rejects = Some(o.run.rejects);
    }
    crate::metrics::write_atomic(path, &crate::metrics::render(&m))
}

pub(super) fn finish_lines(
    console: &Console,
    r: &JobRun,
    v: &Verdict,
    report: Option<&Path>,
    metrics: Option<&Path>,
) {
    let list = |b: &[crate::job::Breach]| {
        b.iter()
            .map(|b| format!("{} {}", b.category, b.count))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !v.warnings.is_empty() {
        console.line(format!("over the warning threshold: {}", list(&v.warnings)));
    }
    if !v.errors.is_empty() {
        console.line(format!("over the error threshold: {}", list(&v.errors)));
    }
    let why = match (r.exit_code, &r.reason) {
        (1, Some(reason)) => format!("the run could not be done: {reason}"),
        (3, _) => format!(
            "{} categor{} over the error threshold",
            v.errors.len(),
            if v.errors.len() == 1 { "y" } else { "ies" }
        ),
        _ => "no category over its error threshold".to_owned(),
    };
    let partial = if r.status == RunStatus::Partial {
        let failed: Vec<&str> = r
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Error)
            .map(|s| s.step)
            .collect();
        format!(" (steps failed: {})", failed.join(", "))
    } else {
        String::new()
    };
    console.line(format!(
        "run {} {}{partial}; exit status {}: {why}",
        r.run_id,
        r.status.as_str(),
        r.exit_code
    ));
    console.event(
        "run-end",
        json!({
            "job": r.job, "run_id": r.run_id, "status": r.status.as_str(), "exit_code": r.exit_code,
            "reason": r.reason, "date": r.date, "replaced_run_id": r.replaced_run_id,
            "findings": {"error": r.findings_error, "warning": r.findings_warning, "info": r.findings_info},
            "threshold_errors": r.threshold_errors, "threshold_warnings": r.threshold_warnings,
            "replay": {"status": r.replay.status, "error": r.replay.error, "planned": r.replay.planned,
                       "succeeded": r.replay.succeeded, "failed": r.replay.failed, "parked": r.replay.parked,
                       "refused": r.replay.refused, "deferred": r.replay.deferred, "attempts": r.replay.attempts},
            "report": report.map(|p| p.display().to_string()),
            "metrics": metrics.map(|p| p.display().to_string()),
            "duration_ms": (r.finished_at - r.started_at) / 1000,
        }),
    );
}
