//! The `replay_attempts` table: one row per attempt (and one per item that was refused, parked or
//! deferred without a request), with what a BALP Read/Query AuditEvent and NEN 7513 ask for:
//! acting system, on whose behalf (the receiving organisation), the patient's pseudonym, what
//! (kind and request, BSN redacted), when, and the outcome. Append-only: each replay run writes
//! its own file, `DIR/replay_attempts/date=<D>/part-<replay run id>.parquet`, never replaced.

use crate::tables::{Table, writer};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const TABLE: &str = "replay_attempts";

/// One row (also one journal record).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub run_id: String,
    /// The as-of of the reconcile run replayed.
    pub as_of: i64,
    pub reconcile_run_id: String,
    /// Hex hash of (notification, request): the item over runs.
    pub item: String,
    pub notification: String,
    /// BSN-redacted.
    pub request: String,
    pub kind: String,
    pub source: String,
    pub finding: String,
    /// A fresh read of the Workflow Task to check its status.
    pub guard: bool,
    /// The attempt number over all runs; None when nothing was sent.
    pub attempt: Option<u32>,
    pub started_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub status: Option<u16>,
    pub class: String,
    /// What became of the item after this row: succeeded, retry, renew-token, failed, parked,
    /// refused, deferred.
    pub decision: String,
    pub reason: Option<String>,
    pub retry_after_s: Option<i64>,
    pub wait_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub resources: Option<i64>,
    pub pages: Option<i64>,
    pub traceparent: Option<String>,
    /// The origin the request went to.
    pub target: Option<String>,
    pub sender: Option<String>,
    pub acting_system: String,
    pub on_behalf_of: Option<String>,
    pub patient: Option<String>,
    pub recorded_at: i64,
    /// success, failure or not-attempted.
    pub outcome: String,
    /// BALP / FHIR AuditEvent outcome: 0 success, 4 minor failure, 8 serious failure.
    pub outcome_code: Option<i64>,
}

/// AuditEvent subtype and action: a read (`R`) or a search (`E`, BALP Query).
pub fn audit(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "search" => ("search-type", "E"),
        _ => ("read", "R"),
    }
}

pub fn table(rows: &[Row]) -> Result<polars::prelude::DataFrame> {
    let r = rows;
    let s = |f: fn(&Row) -> Option<&str>| r.iter().map(f).collect::<Vec<_>>();
    let i = |f: fn(&Row) -> Option<i64>| r.iter().map(f).collect::<Vec<_>>();
    Table::new(TABLE)
        .text("run_id", s(|x| Some(x.run_id.as_str())))
        .ts("as_of", i(|x| Some(x.as_of)))
        .text("reconcile_run_id", s(|x| Some(x.reconcile_run_id.as_str())))
        .text("item", s(|x| Some(x.item.as_str())))
        .text("notification", s(|x| Some(x.notification.as_str())))
        .text("request", s(|x| Some(x.request.as_str())))
        .text("kind", s(|x| Some(x.kind.as_str())))
        .text("source", s(|x| Some(x.source.as_str())))
        .text("finding", s(|x| Some(x.finding.as_str())))
        .flag("guard", r.iter().map(|x| Some(x.guard)).collect::<Vec<_>>())
        .int("attempt", i(|x| x.attempt.map(i64::from)))
        .ts("started_at", i(|x| x.started_at))
        .int("duration_ms", i(|x| x.duration_ms))
        .int("status", i(|x| x.status.map(i64::from)))
        .text("class", s(|x| Some(x.class.as_str())))
        .text("decision", s(|x| Some(x.decision.as_str())))
        .text("reason", s(|x| x.reason.as_deref()))
        .int("retry_after_s", i(|x| x.retry_after_s))
        .int("wait_ms", i(|x| x.wait_ms))
        .int("bytes", i(|x| x.bytes))
        .int("resources", i(|x| x.resources))
        .int("pages", i(|x| x.pages))
        .text("traceparent", s(|x| x.traceparent.as_deref()))
        .text("target", s(|x| x.target.as_deref()))
        .text("sender", s(|x| x.sender.as_deref()))
        .text("acting_system", s(|x| Some(x.acting_system.as_str())))
        .text("on_behalf_of", s(|x| x.on_behalf_of.as_deref()))
        .text("patient", s(|x| x.patient.as_deref()))
        .text(
            "audit_type",
            r.iter().map(|_| Some("110110")).collect::<Vec<_>>(),
        )
        .text(
            "audit_subtype",
            r.iter().map(|x| Some(audit(&x.kind).0)).collect::<Vec<_>>(),
        )
        .text(
            "audit_action",
            r.iter().map(|x| Some(audit(&x.kind).1)).collect::<Vec<_>>(),
        )
        .ts("recorded_at", i(|x| Some(x.recorded_at)))
        .text("outcome", s(|x| Some(x.outcome.as_str())))
        .int("outcome_code", i(|x| x.outcome_code))
        .finish()
}

/// The file of a replay run's rows.
pub fn part_path(out: &Path, date: &str, run_id: &str) -> PathBuf {
    writer::partition_dir(out, TABLE, date).join(part_name(run_id))
}

fn part_name(run_id: &str) -> String {
    format!("part-{run_id}.parquet")
}

/// Writes a replay run's rows (atomically; never replaces another run's file).
pub fn write(out: &Path, date: &str, run_id: &str, as_of: i64, rows: &[Row]) -> Result<PathBuf> {
    let mut df = table(rows)?;
    let meta = vec![
        ("pullrecon.run_id".to_owned(), run_id.to_owned()),
        (
            "pullrecon.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("pullrecon.as_of".to_owned(), crate::time::format_ts(as_of)),
    ];
    writer::stage_partition(out, TABLE, date, &part_name(run_id), &mut df, &meta)?.commit()
}
