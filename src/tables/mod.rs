//! Audit tables: turns a run (its inputs, model and findings) into the contract's tables
//! (`runs`, `notifications`, `requests`, `findings`, `bsn_audit`, `rejects`, plus `input_files`)
//! and writes each as a Hive partition for the run's date. Every row carries `run_id` and `as_of`.
//! BSNs appear only as keyed pseudonyms; request text has BSN values redacted. The tables with a
//! row per notification or request are built and written in batches (one row group each), so
//! their size in memory does not grow with the run.

mod layout;
mod requests;
mod table;
pub mod writer;

pub use layout::{commit_all, is_other_layout, part_name, stage_all};
pub use requests::requests_table;
use table::LastText;
pub use table::Table;

use crate::bsn::{Pseudonymiser, is_valid};
use crate::checks::Finding;
use crate::fhir::request::redact_bsn;
use crate::ingest::intern::Sym;
use crate::ingest::{InputFile, Reject};
use crate::model::{BsnRoute, Core, Model, Notification, Slot, unst};
use anyhow::Result;
use polars::prelude::*;
use std::borrow::Cow;

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
        .text_all("run_id", &run.run_id, n)
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

/// The patient pseudonym of a compact notification (as `patient_pseudonym`).
fn patient_of(c: &Core, n: &Slot, p: &Pseudonymiser) -> Option<String> {
    if !p.has_key() {
        return None;
    }
    let bsns = c.bsns_of(n);
    let bsn = bsns
        .iter()
        .find(|(_, b)| is_valid(&c.s(*b)))
        .or(bsns.first())?;
    p.pseudonym(&c.s(bsn.1))
}

/// Rows per batch (one Parquet row group each) of the per-notification tables. Three tables are
/// written side by side, each with a batch being built and one being written: at 2M
/// notifications, 16k rows a batch instead of 32k keeps about 60 MiB less in memory while the
/// tables are written, at the same speed.
const BATCH: usize = 16_384;

/// A table written in batches (one row group each): `build(k)` makes the frame of batch `k` of
/// `parts` (at least one, which may be empty: it gives the schema). The writer builds a few
/// batches side by side and writes them in order.
pub struct Batched<'a> {
    pub parts: usize,
    pub build: Box<dyn Fn(usize) -> Result<DataFrame> + Send + Sync + 'a>,
}

/// Batch `k` of `size` items of `all` (empty past the end).
fn part(all: &[u32], size: usize, k: usize) -> &[u32] {
    let start = (k * size).min(all.len());
    &all[start..(start + size).min(all.len())]
}

/// What `stage_all` writes for one table.
pub enum TableData<'a> {
    Frame(DataFrame),
    Batches(Batched<'a>),
}

fn text(c: &Core, s: Sym) -> Option<Cow<'_, str>> {
    s.opt().map(|s| c.s(s))
}

/// The `notifications` table, in batches.
pub fn notifications_table<'a>(
    run: &'a RunRecord,
    m: &'a Model,
    p: &'a Pseudonymiser,
) -> Batched<'a> {
    let c = m.core();
    Batched {
        parts: c.order.len().div_ceil(BATCH).max(1),
        build: Box::new(move |k| notifications_batch(run, c, p, part(&c.order, BATCH, k))),
    }
}

fn notifications_batch(
    run: &RunRecord,
    c: &Core,
    p: &Pseudonymiser,
    ids: &[u32],
) -> Result<DataFrame> {
    let ns: Vec<&Slot> = ids.iter().map(|&i| &c.slots[i as usize]).collect();
    let st = &c.strings;
    let t = |f: &dyn Fn(&Slot) -> Sym| ns.iter().map(|n| f(n)).collect::<Vec<_>>();
    let i = |f: &dyn Fn(&Slot) -> Option<i64>| ns.iter().map(|n| f(n)).collect::<Vec<_>>();
    let ia = |f: &dyn Fn(&Slot) -> i64| ns.iter().map(|n| f(n)).collect::<Vec<_>>();
    let b = |f: &dyn Fn(&Slot) -> bool| ns.iter().map(|n| f(n)).collect::<Vec<_>>();
    let as_of = run.as_of;
    base("notifications", run, ns.len())
        .syms("notification", st, t(&|n| n.id))
        .syms("group", st, t(&|n| n.task.group))
        .syms("sender", st, t(&|n| n.task.sender_org))
        .syms("sender_agent", st, t(&|n| n.task.sender_agent))
        .syms("receiver", st, t(&|n| n.task.receiver_org))
        .syms("sender_base", st, t(&|n| n.base))
        .ts("authored_on", i(&|n| n.task.authored_on.get()))
        .flags("in_sent_log", b(&|n| n.in_sent_log()))
        .flags("in_received_log", b(&|n| n.recv_count > 0))
        .ts("sent_at", i(&|n| n.sent_min.get()))
        .ints("sent_attempts", ia(&|n| i64::from(n.sent_count)))
        .int(
            "sent_last_status",
            i(&|n| unst(n.sent_last_status).map(i64::from)),
        )
        .ts("received_at", i(&|n| n.receipt.get()))
        .ints("received_count", ia(&|n| i64::from(n.recv_count)))
        .flags("delivered", b(&|n| n.delivered()))
        .flags("current", b(&|n| n.current))
        .flags("first_in_group", b(&|n| n.first_in_group))
        .ints("group_position", ia(&|n| i64::from(n.group_position) + 1))
        .ints("group_size", ia(&|n| i64::from(n.group_size)))
        .ts("cancelled_at", i(&|n| n.cancelled_at.get()))
        .ts("expires", i(&|n| n.task.expires.get()))
        .flags("expired", b(&|n| n.expired(as_of)))
        .syms("based_on", st, t(&|n| n.task.based_on))
        .flag(
            "get_workflow_task",
            ns.iter()
                .map(|n| n.task.get_workflow_task)
                .collect::<Vec<_>>(),
        )
        .text(
            "workflow_task_status",
            ns.iter()
                .map(|n| c.workflow(n).and_then(|w| c.shape(w.task.shape).status))
                .collect::<Vec<_>>(),
        )
        .ints("requests_expected", ia(&|n| i64::from(n.exp.1)))
        .ints(
            "requests_succeeded",
            ia(&|n| {
                c.exps(n)
                    .iter()
                    .filter(|r| c.succeeded(n, r.request))
                    .count() as i64
            }),
        )
        .flags(
            "malformed",
            ids.iter()
                .map(|i| !c.malformations(*i).is_empty())
                .collect::<Vec<_>>(),
        )
        .text("code_system", {
            let mut shapes: crate::ingest::intern::SymMap<Sym, Option<String>> = Default::default();
            ns.iter()
                .map(|n| {
                    shapes
                        .entry(n.task.shape)
                        .or_insert_with(|| c.shape(n.task.shape).code.and_then(|c| c.0))
                        .clone()
                })
                .collect::<Vec<_>>()
        })
        .flags(
            "has_authorization_base",
            b(&|n| n.task.has_authorization_base),
        )
        .text(
            "patient",
            ns.iter().map(|n| patient_of(c, n, p)).collect::<Vec<_>>(),
        )
        .finish()
}

/// Whether a request mentions "bsn" at all (only then can it hold a BSN to redact).
fn mentions_bsn(request: &str) -> bool {
    request
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"bsn"))
}

/// A request as written to a table: BSN values redacted (text without "bsn" is left as it is).
fn redacted(request: &str) -> Cow<'_, str> {
    if mentions_bsn(request) {
        Cow::Owned(redact_bsn(request))
    } else {
        Cow::Borrowed(request)
    }
}

pub fn findings_table(
    run: &RunRecord,
    findings: &[Finding],
    m: &Model,
    p: &Pseudonymiser,
) -> Result<DataFrame> {
    let f = findings;
    let c = m.core();
    let patient = |x: &Finding| {
        x.slot
            .and_then(|i| c.slots.get(i as usize))
            .and_then(|n| patient_of(c, n, p))
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
            f.iter().map(|x| x.request.as_deref().map(redacted)),
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

/// The `bsn_audit` table, in batches.
pub fn bsn_audit_table<'a>(run: &'a RunRecord, m: &'a Model, p: &'a Pseudonymiser) -> Batched<'a> {
    let c = m.core();
    Batched {
        parts: c.order.len().div_ceil(BATCH).max(1),
        build: Box::new(move |k| bsn_audit_batch(run, c, p, part(&c.order, BATCH, k))),
    }
}

fn bsn_audit_batch(run: &RunRecord, c: &Core, p: &Pseudonymiser, ids: &[u32]) -> Result<DataFrame> {
    let ns: Vec<&Slot> = ids.iter().map(|&i| &c.slots[i as usize]).collect();
    let st = &c.strings;
    // The BSN of a notification by one route (the first seen), as a symbol.
    let route = |n: &Slot, r: BsnRoute| -> Sym {
        c.bsns_of(n)
            .iter()
            .find(|(x, _)| *x == r)
            .map_or(Sym::NONE, |(_, b)| *b)
    };
    let pseud = |r: BsnRoute| {
        ns.iter()
            .map(|n| {
                let b = route(n, r);
                if p.has_key() && b.is_some() {
                    p.pseudonym(&c.s(b))
                } else {
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let valid = |r: BsnRoute| {
        ns.iter()
            .map(|n| route(n, r).opt().map(|b| is_valid(&c.s(b))))
            .collect::<Vec<_>>()
    };
    let has = |r: BsnRoute| ns.iter().map(|n| route(n, r).is_some()).collect::<Vec<_>>();
    let distinct: Vec<usize> = ns
        .iter()
        .map(|n| {
            let bsns = c.bsns_of(n);
            if bsns.len() < 2 {
                return bsns.len();
            }
            let texts: Vec<Cow<'_, str>> = bsns.iter().map(|(_, b)| c.s(*b)).collect();
            let mut v: Vec<&str> = texts.iter().map(|b| b.trim()).collect();
            v.sort_unstable();
            v.dedup();
            v.len()
        })
        .collect();
    let t = |f: &dyn Fn(&Slot) -> Sym| ns.iter().map(|n| f(n)).collect::<Vec<_>>();
    base("bsn_audit", run, ns.len())
        .syms("notification", st, t(&|n| n.id))
        .syms("group", st, t(&|n| n.task.group))
        .syms("sender", st, t(&|n| n.task.sender_org))
        .syms("receiver", st, t(&|n| n.task.receiver_org))
        .flags("current", ns.iter().map(|n| n.current))
        .flags("cancelled", ns.iter().map(|n| n.cancelled()))
        .flags("route_task", has(BsnRoute::Task))
        .flags("route_workflow_task", has(BsnRoute::WorkflowTask))
        .flags(
            "route_assertion",
            ns.iter()
                .map(|n| n.assertion_flag || route(n, BsnRoute::Assertion).is_some())
                .collect::<Vec<_>>(),
        )
        .flags("assertion_value_logged", has(BsnRoute::Assertion))
        .flags(
            "workflow_task_known",
            ns.iter()
                .map(|n| c.workflow(n).is_some())
                .collect::<Vec<_>>(),
        )
        .text("pseudonym_task", pseud(BsnRoute::Task))
        .text("pseudonym_workflow_task", pseud(BsnRoute::WorkflowTask))
        .text("pseudonym_assertion", pseud(BsnRoute::Assertion))
        .flag("valid_task", valid(BsnRoute::Task))
        .flag("valid_workflow_task", valid(BsnRoute::WorkflowTask))
        .flag("valid_assertion", valid(BsnRoute::Assertion))
        .ints("distinct_bsns", distinct.iter().map(|d| *d as i64))
        .flags("mismatch", distinct.iter().map(|d| *d > 1))
        .flags(
            "unavailable",
            ns.iter()
                .map(|n| n.bsns.1 == 0 && !n.assertion_flag)
                .collect::<Vec<_>>(),
        )
        .text(
            "patient",
            ns.iter().map(|n| patient_of(c, n, p)).collect::<Vec<_>>(),
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
