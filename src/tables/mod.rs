//! Audit tables: turns a run (its inputs, model and findings) into the contract's tables
//! (`runs`, `notifications`, `requests`, `findings`, `bsn_audit`, `rejects`, plus `input_files`)
//! and writes each as a Hive partition for the run's date. Every row carries `run_id` and `as_of`.
//! BSNs appear only as keyed pseudonyms; request text has BSN values redacted.

pub mod writer;

use crate::bsn::{Pseudonymiser, is_valid};
use crate::checks::Finding;
use crate::fhir::request::redact_bsn;
use crate::ingest::{InputFile, Reject};
use crate::model::{BsnRoute, Model, Notification};
use anyhow::Result;
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// The names of the tables one reconcile writes.
pub const TABLES: [&str; 7] = [
    "runs",
    "input_files",
    "notifications",
    "requests",
    "findings",
    "bsn_audit",
    "rejects",
];

/// A table under construction: named columns of equal length.
pub struct Table {
    pub name: &'static str,
    columns: Vec<Column>,
}

impl Table {
    pub fn new(name: &'static str) -> Self {
        Table {
            name,
            columns: Vec::new(),
        }
    }

    pub fn text<S: AsRef<str>>(
        mut self,
        col: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let v: Vec<Option<String>> = values
            .into_iter()
            .map(|s| s.map(|s| s.as_ref().to_owned()))
            .collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    pub fn int(mut self, col: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let v: Vec<Option<i64>> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    pub fn flag(mut self, col: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        let v: Vec<Option<bool>> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    /// A timestamp column (UTC microseconds → `Timestamp(us, UTC)`).
    pub fn ts(mut self, col: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let v: Vec<Option<i64>> = values.into_iter().collect();
        let s =
            Series::new(col.into(), v).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        self.columns.push(s.into_column());
        self
    }

    pub fn finish(self) -> Result<DataFrame> {
        Ok(DataFrame::new_infer_height(self.columns)?)
    }
}

/// What identifies a run in every row, plus what the `runs` table holds.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub as_of: i64,
    pub date: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub command: String,
    pub parameters_json: String,
    pub time_zone: String,
    pub grace_seconds: i64,
    pub lookback_seconds: i64,
    pub push_sla_seconds: i64,
    pub window_from: i64,
    pub events_read: u64,
    pub events_used: u64,
    pub duplicates: u64,
    pub rejects: u64,
    pub after_as_of: u64,
    pub before_lookback: u64,
    pub notifications: u64,
    pub errors: u64,
    pub warnings: u64,
    pub infos: u64,
    pub replayable: u64,
    pub exit_code: i32,
    pub pseudonym_key: bool,
}

fn rep<T: Clone>(v: T, n: usize) -> impl Iterator<Item = Option<T>> {
    std::iter::repeat_n(Some(v), n)
}

fn base(name: &'static str, run: &RunRecord, n: usize) -> Table {
    Table::new(name)
        .text("run_id", rep(run.run_id.as_str(), n))
        .ts("as_of", rep(run.as_of, n))
}

pub fn runs_table(run: &RunRecord, files: &[InputFile]) -> Result<DataFrame> {
    let inputs: Vec<serde_json::Value> = files.iter().map(input_json).collect();
    let u = |v: u64| Some(v as i64);
    base("runs", run, 1)
        .ts("started_at", [Some(run.started_at)])
        .ts("finished_at", [Some(run.finished_at)])
        .text("version", [Some(env!("CARGO_PKG_VERSION"))])
        .text("command", [Some(run.command.as_str())])
        .text("parameters", [Some(run.parameters_json.as_str())])
        .text("time_zone", [Some(run.time_zone.as_str())])
        .text("date", [Some(run.date.as_str())])
        .int("grace_seconds", [Some(run.grace_seconds)])
        .int("lookback_seconds", [Some(run.lookback_seconds)])
        .int("push_sla_seconds", [Some(run.push_sla_seconds)])
        .ts("window_from", [Some(run.window_from)])
        .int("input_files", [Some(files.len() as i64)])
        .text(
            "inputs",
            [Some(serde_json::Value::Array(inputs).to_string())],
        )
        .int("events_read", [u(run.events_read)])
        .int("events_used", [u(run.events_used)])
        .int("duplicates", [u(run.duplicates)])
        .int("rejects", [u(run.rejects)])
        .int("events_after_as_of", [u(run.after_as_of)])
        .int("events_before_lookback", [u(run.before_lookback)])
        .int("notifications", [u(run.notifications)])
        .int("findings_error", [u(run.errors)])
        .int("findings_warning", [u(run.warnings)])
        .int("findings_info", [u(run.infos)])
        .int("findings_replayable", [u(run.replayable)])
        .int("exit_code", [Some(i64::from(run.exit_code))])
        .flag("pseudonym_key", [Some(run.pseudonym_key)])
        .finish()
}

fn input_json(f: &InputFile) -> serde_json::Value {
    serde_json::json!({
        "side": f.side.as_str(),
        "path": f.path.display().to_string(),
        "format": f.format.as_str(),
        "bytes": f.bytes,
        "sha256": f.sha256,
        "rows": f.rows,
        "events": f.events,
        "rejects": f.rejects,
        "duplicates": f.duplicates,
        "out_of_window": f.out_of_window,
        "replayed": f.replayed,
    })
}

pub fn input_files_table(run: &RunRecord, files: &[InputFile]) -> Result<DataFrame> {
    let n = files.len();
    let c = |f: fn(&InputFile) -> u64| {
        files
            .iter()
            .map(move |x| Some(f(x) as i64))
            .collect::<Vec<_>>()
    };
    base("input_files", run, n)
        .text("side", files.iter().map(|f| Some(f.side.as_str())))
        .text(
            "path",
            files.iter().map(|f| Some(f.path.display().to_string())),
        )
        .text("format", files.iter().map(|f| Some(f.format.as_str())))
        .int("bytes", c(|f| f.bytes))
        .text("sha256", files.iter().map(|f| Some(f.sha256.as_str())))
        .int("rows", c(|f| f.rows))
        .int("events", c(|f| f.events))
        .int("rejects", c(|f| f.rejects))
        .int("duplicates", c(|f| f.duplicates))
        .int("out_of_window", c(|f| f.out_of_window))
        .finish()
}

/// The patient pseudonym of a notification: of its first valid BSN, else of its first BSN.
pub fn patient_pseudonym(n: &Notification, p: &Pseudonymiser) -> Option<String> {
    let bsn = n
        .bsns
        .iter()
        .find(|(_, b)| is_valid(b))
        .or(n.bsns.first())?;
    p.pseudonym(&bsn.1)
}

pub fn notifications_table(run: &RunRecord, m: &Model, p: &Pseudonymiser) -> Result<DataFrame> {
    let ns = &m.notifications;
    let t = |f: fn(&Notification) -> Option<String>| ns.iter().map(f).collect::<Vec<_>>();
    let i = |f: fn(&Notification) -> Option<i64>| ns.iter().map(f).collect::<Vec<_>>();
    let b = |f: fn(&Notification) -> bool| ns.iter().map(move |n| Some(f(n))).collect::<Vec<_>>();
    let as_of = run.as_of;
    base("notifications", run, ns.len())
        .text("notification", t(|n| Some(n.id.clone())))
        .text("group", t(|n| n.task.group.clone()))
        .text("sender", t(|n| n.task.sender_org.clone()))
        .text("sender_agent", t(|n| n.task.sender_agent.clone()))
        .text("receiver", t(|n| n.task.receiver_org.clone()))
        .text("sender_base", t(|n| n.sender_base.clone()))
        .ts("authored_on", i(|n| n.task.authored_on))
        .flag("in_sent_log", b(|n| n.in_sent_log()))
        .flag("in_received_log", b(|n| !n.received.is_empty()))
        .ts("sent_at", i(|n| n.sent.iter().map(|a| a.ts).min()))
        .int("sent_attempts", i(|n| Some(n.sent.len() as i64)))
        .int(
            "sent_last_status",
            i(|n| n.sent.last().and_then(|a| a.status).map(i64::from)),
        )
        .ts("received_at", i(|n| n.receipt))
        .int("received_count", i(|n| Some(n.received.len() as i64)))
        .flag("delivered", b(|n| n.delivered()))
        .flag("current", b(|n| n.current))
        .flag("first_in_group", b(|n| n.first_in_group))
        .int("group_position", i(|n| Some(n.group_position as i64 + 1)))
        .int("group_size", i(|n| Some(n.group_size as i64)))
        .ts("cancelled_at", i(|n| n.cancelled_at))
        .ts("expires", i(|n| n.task.expires))
        .flag(
            "expired",
            ns.iter()
                .map(|n| Some(n.expired(as_of)))
                .collect::<Vec<_>>(),
        )
        .text("based_on", t(|n| n.task.based_on.clone()))
        .flag(
            "get_workflow_task",
            ns.iter()
                .map(|n| n.task.get_workflow_task)
                .collect::<Vec<_>>(),
        )
        .text(
            "workflow_task_status",
            t(|n| n.workflow.as_ref().and_then(|w| w.status.clone())),
        )
        .int("requests_expected", i(|n| Some(n.expected.len() as i64)))
        .int(
            "requests_succeeded",
            i(|n| {
                Some(
                    n.expected
                        .iter()
                        .filter(|r| n.succeeded(&r.request))
                        .count() as i64,
                )
            }),
        )
        .flag("malformed", b(|n| !n.malformations.is_empty()))
        .text(
            "code_system",
            t(|n| n.task.code.as_ref().and_then(|c| c.0.clone())),
        )
        .flag(
            "has_authorization_base",
            b(|n| n.task.authorization_base.is_some()),
        )
        .text(
            "patient",
            ns.iter()
                .map(|n| patient_pseudonym(n, p))
                .collect::<Vec<_>>(),
        )
        .finish()
}

/// One row per (notification, request): the expected ones and every other pull logged.
pub fn requests_table(run: &RunRecord, m: &Model) -> Result<DataFrame> {
    #[derive(Default)]
    struct Row {
        notification: String,
        known: bool,
        request: String,
        kind: Option<&'static str>,
        source: Option<&'static str>,
        code: Option<String>,
        expected: bool,
        attempts: i64,
        first: Option<i64>,
        last: Option<i64>,
        last_status: Option<i64>,
        succeeded_at: Option<i64>,
    }
    let mut rows = Vec::new();
    for n in &m.notifications {
        for r in &n.expected {
            let s = n.pulls.get(&r.request);
            rows.push(Row {
                notification: n.id.clone(),
                known: true,
                request: r.request.clone(),
                kind: Some(r.kind.as_str()),
                source: Some(r.source.as_str()),
                code: r.code.clone(),
                expected: true,
                attempts: s.map_or(0, |s| i64::from(s.attempts)),
                first: s.map(|s| s.first),
                last: s.map(|s| s.last),
                last_status: s.and_then(|s| s.last_status.map(i64::from)),
                succeeded_at: s.and_then(|s| s.succeeded_at),
            });
        }
        for (request, s) in &n.pulls {
            if n.expected.iter().any(|r| &r.request == request) {
                continue;
            }
            rows.push(Row {
                notification: n.id.clone(),
                known: true,
                request: request.clone(),
                kind: s.interaction.map(|i| i.as_str()),
                expected: false,
                attempts: i64::from(s.attempts),
                first: Some(s.first),
                last: Some(s.last),
                last_status: s.last_status.map(i64::from),
                succeeded_at: s.succeeded_at,
                ..Row::default()
            });
        }
    }
    for sp in &m.stray_pulls {
        rows.push(Row {
            notification: sp.notification.clone(),
            known: false,
            request: sp.request.clone(),
            attempts: 1,
            first: Some(sp.attempt.ts),
            last: Some(sp.attempt.ts),
            last_status: sp.attempt.status.map(i64::from),
            succeeded_at: sp.attempt.success().then_some(sp.attempt.ts),
            ..Row::default()
        });
    }
    base("requests", run, rows.len())
        .text(
            "notification",
            rows.iter().map(|r| Some(r.notification.as_str())),
        )
        .flag("notification_known", rows.iter().map(|r| Some(r.known)))
        .text("request", rows.iter().map(|r| Some(redact_bsn(&r.request))))
        .text("kind", rows.iter().map(|r| r.kind))
        .text("source", rows.iter().map(|r| r.source))
        .text("input_code", rows.iter().map(|r| r.code.as_deref()))
        .flag("expected", rows.iter().map(|r| Some(r.expected)))
        .int("attempts", rows.iter().map(|r| Some(r.attempts)))
        .ts("first_attempt", rows.iter().map(|r| r.first))
        .ts("last_attempt", rows.iter().map(|r| r.last))
        .int("last_status", rows.iter().map(|r| r.last_status))
        .flag(
            "succeeded",
            rows.iter().map(|r| Some(r.succeeded_at.is_some())),
        )
        .ts("succeeded_at", rows.iter().map(|r| r.succeeded_at))
        .finish()
}

pub fn findings_table(
    run: &RunRecord,
    findings: &[Finding],
    m: &Model,
    p: &Pseudonymiser,
) -> Result<DataFrame> {
    let f = findings;
    let patient = |x: &Finding| {
        x.notification
            .as_deref()
            .and_then(|id| m.get(id))
            .and_then(|n| patient_pseudonym(n, p))
    };
    base("findings", run, f.len())
        .text("category", f.iter().map(|x| Some(x.category)))
        .text("severity", f.iter().map(|x| Some(x.severity.as_str())))
        .text("notification", f.iter().map(|x| x.notification.as_deref()))
        .text("message", f.iter().map(|x| x.message.as_deref()))
        .text("group", f.iter().map(|x| x.group.as_deref()))
        .text("sender", f.iter().map(|x| x.sender.as_deref()))
        .text("receiver", f.iter().map(|x| x.receiver.as_deref()))
        .text(
            "request",
            f.iter().map(|x| x.request.as_deref().map(redact_bsn)),
        )
        .flag("replayable", f.iter().map(|x| Some(x.replayable)))
        .text("detail", f.iter().map(|x| Some(x.detail.as_str())))
        .ts("since", f.iter().map(|x| x.since))
        .text("request_kind", f.iter().map(|x| x.request_kind))
        .text("request_source", f.iter().map(|x| x.request_source))
        .text("sender_base", f.iter().map(|x| x.sender_base.as_deref()))
        .ts("expires", f.iter().map(|x| x.expires))
        .text("patient", f.iter().map(patient).collect::<Vec<_>>())
        .finish()
}

pub fn bsn_audit_table(run: &RunRecord, m: &Model, p: &Pseudonymiser) -> Result<DataFrame> {
    let ns = &m.notifications;
    fn route(n: &Notification, r: BsnRoute) -> Option<&str> {
        n.bsns
            .iter()
            .find(|(x, _)| *x == r)
            .map(|(_, b)| b.as_str())
    }
    let pseud = |r: BsnRoute| {
        ns.iter()
            .map(|n| route(n, r).and_then(|b| p.pseudonym(b)))
            .collect::<Vec<_>>()
    };
    let valid = |r: BsnRoute| {
        ns.iter()
            .map(|n| route(n, r).map(is_valid))
            .collect::<Vec<_>>()
    };
    let has = |r: BsnRoute| {
        ns.iter()
            .map(|n| Some(route(n, r).is_some()))
            .collect::<Vec<_>>()
    };
    let distinct = |n: &Notification| {
        let mut v: Vec<&str> = n.bsns.iter().map(|(_, b)| b.trim()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    base("bsn_audit", run, ns.len())
        .text("notification", ns.iter().map(|n| Some(n.id.as_str())))
        .text("group", ns.iter().map(|n| n.task.group.as_deref()))
        .text("sender", ns.iter().map(|n| n.task.sender_org.as_deref()))
        .text(
            "receiver",
            ns.iter().map(|n| n.task.receiver_org.as_deref()),
        )
        .flag("current", ns.iter().map(|n| Some(n.current)))
        .flag(
            "cancelled",
            ns.iter().map(|n| Some(n.cancelled_at.is_some())),
        )
        .flag("route_task", has(BsnRoute::Task))
        .flag("route_workflow_task", has(BsnRoute::WorkflowTask))
        .flag(
            "route_assertion",
            ns.iter()
                .map(|n| Some(n.assertion_flag || route(n, BsnRoute::Assertion).is_some()))
                .collect::<Vec<_>>(),
        )
        .flag(
            "assertion_value_logged",
            ns.iter()
                .map(|n| Some(route(n, BsnRoute::Assertion).is_some()))
                .collect::<Vec<_>>(),
        )
        .flag(
            "workflow_task_known",
            ns.iter()
                .map(|n| Some(n.workflow.is_some()))
                .collect::<Vec<_>>(),
        )
        .text("pseudonym_task", pseud(BsnRoute::Task))
        .text("pseudonym_workflow_task", pseud(BsnRoute::WorkflowTask))
        .text("pseudonym_assertion", pseud(BsnRoute::Assertion))
        .flag("valid_task", valid(BsnRoute::Task))
        .flag("valid_workflow_task", valid(BsnRoute::WorkflowTask))
        .flag("valid_assertion", valid(BsnRoute::Assertion))
        .int(
            "distinct_bsns",
            ns.iter()
                .map(|n| Some(distinct(n) as i64))
                .collect::<Vec<_>>(),
        )
        .flag(
            "mismatch",
            ns.iter().map(|n| Some(distinct(n) > 1)).collect::<Vec<_>>(),
        )
        .flag(
            "unavailable",
            ns.iter()
                .map(|n| Some(n.bsns.is_empty() && !n.assertion_flag))
                .collect::<Vec<_>>(),
        )
        .text(
            "patient",
            ns.iter()
                .map(|n| patient_pseudonym(n, p))
                .collect::<Vec<_>>(),
        )
        .finish()
}

pub fn rejects_table(
    run: &RunRecord,
    rejects: &[Reject],
    files: &[InputFile],
) -> Result<DataFrame> {
    let path = |r: &Reject| {
        files
            .get(r.file as usize)
            .map(|f| f.path.display().to_string())
    };
    base("rejects", run, rejects.len())
        .text("side", rejects.iter().map(|r| Some(r.side.as_str())))
        .text("file", rejects.iter().map(path).collect::<Vec<_>>())
        .int("line", rejects.iter().map(|r| Some(r.line as i64)))
        .text("reason_code", rejects.iter().map(|r| Some(r.reason.code())))
        .text("reason", rejects.iter().map(|r| Some(r.reason.to_string())))
        .finish()
}

/// The file name of a shard's part within a partition.
pub fn part_name(shard: Option<(u32, u32)>) -> String {
    let (i, n) = shard.unwrap_or((0, 1));
    format!("part-{i}-of-{n}.parquet")
}

/// Writes every table of a run; returns the files written.
pub fn write_all(
    out: &Path,
    run: &RunRecord,
    tables: Vec<(&'static str, DataFrame)>,
) -> Result<Vec<PathBuf>> {
    let meta = vec![
        ("pullrecon.run_id".to_owned(), run.run_id.clone()),
        (
            "pullrecon.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        (
            "pullrecon.as_of".to_owned(),
            crate::time::format_ts(run.as_of),
        ),
    ];
    let name = part_name(None);
    let mut written = Vec::new();
    for (table, mut df) in tables {
        let path = writer::write_partition(out, table, &run.date, &name, &mut df, &meta)?;
        writer::remove_others(&writer::partition_dir(out, table, &run.date), &name, |f| {
            f.starts_with("part-")
        })?;
        written.push(path);
    }
    Ok(written)
}
