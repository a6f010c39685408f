//! The `requests` table: one row per (notification, request), the expected requests and every
//! other pull logged, then the pulls of notifications neither log notified; request text with
//! BSN values redacted.

use super::{BATCH, Batched, LastText, RunRecord, base, mentions_bsn, part, redacted, text};
use crate::fhir::request::redact_bsn;
use crate::ingest::intern::Sym;
use crate::model::{Core, Model, unst};
use anyhow::Result;
use polars::prelude::*;
use std::borrow::Cow;

/// One row of the `requests` table.
struct ReqRow<'a> {
    /// The notification: its symbol, or (a pull of a notification neither log notified) its text.
    notification: Result<Sym, &'a str>,
    known: bool,
    /// The request: its symbol (text read while the column is built), or its redacted text.
    request: Result<Sym, Cow<'a, str>>,
    kind: Option<&'static str>,
    source: Option<&'static str>,
    code: Option<Cow<'a, str>>,
    expected: bool,
    attempts: i64,
    first: Option<i64>,
    last: Option<i64>,
    last_status: Option<i64>,
    succeeded_at: Option<i64>,
}

/// One row per (notification, request): the expected ones and every other pull logged; then
/// the pulls of notifications neither log notified.
pub fn requests_table<'a>(run: &'a RunRecord, m: &'a Model) -> Batched<'a> {
    let c = m.core();
    let chunks = c.order.len().div_ceil(BATCH / 4);
    let per_notification = move |ids: &[u32]| {
        let mut rows = Vec::new();
        for &i in ids {
            let n = &c.slots[i as usize];
            let id = Ok(n.id);
            let exps = c.exps(n);
            for r in exps {
                let s = c.pull(n, r.request);
                rows.push(ReqRow {
                    notification: id,
                    known: true,
                    request: Ok(r.request),
                    kind: Some(r.kind.as_str()),
                    source: Some(r.source.as_str()),
                    code: text(c, r.code),
                    expected: true,
                    attempts: s.map_or(0, |s| i64::from(s.attempts)),
                    first: s.map(|s| s.first),
                    last: s.map(|s| s.last),
                    last_status: s.and_then(|s| unst(s.last_status).map(i64::from)),
                    succeeded_at: s.and_then(|s| s.succeeded_at.get()),
                });
            }
            for s in c.pulls_of(n) {
                if exps.iter().any(|r| r.request == s.request) {
                    continue;
                }
                rows.push(ReqRow {
                    notification: id,
                    known: true,
                    request: Ok(s.request),
                    kind: Some(s.interaction.as_str()),
                    source: None,
                    code: None,
                    expected: false,
                    attempts: i64::from(s.attempts),
                    first: Some(s.first),
                    last: Some(s.last),
                    last_status: unst(s.last_status).map(i64::from),
                    succeeded_at: s.succeeded_at.get(),
                });
            }
        }
        requests_batch(run, c, &rows)
    };
    let stray = move || {
        let rows: Vec<ReqRow> = m
            .stray_pulls
            .iter()
            .map(|sp| ReqRow {
                notification: Err(sp.notification.as_str()),
                known: false,
                request: Err(redacted(&sp.request)),
                kind: None,
                source: None,
                code: None,
                expected: false,
                attempts: 1,
                first: Some(sp.attempt.ts),
                last: Some(sp.attempt.ts),
                last_status: sp.attempt.status.map(i64::from),
                succeeded_at: sp.attempt.success().then_some(sp.attempt.ts),
            })
            .collect();
        requests_batch(run, c, &rows)
    };
    // The pulls of notifications neither log notified come last (an empty batch when none).
    Batched {
        parts: chunks + 1,
        build: Box::new(move |k| {
            if k < chunks {
                per_notification(part(&c.order, BATCH / 4, k))
            } else {
                stray()
            }
        }),
    }
}

fn requests_batch(run: &RunRecord, c: &Core, rows: &[ReqRow]) -> Result<DataFrame> {
    let mut last = LastText::default();
    let ids: Vec<Sym> = rows
        .iter()
        .map(|r| r.notification.unwrap_or(Sym::NONE))
        .collect();
    let requests: Vec<Sym> = rows
        .iter()
        .map(|r| r.request.as_ref().map_or(Sym::NONE, |s| *s))
        .collect();
    // Whether a request holds "bsn" (then it is redacted), once per request.
    let mut bsn_in: crate::ingest::intern::SymMap<Sym, bool> = Default::default();
    base("requests", run, rows.len())
        .text_with("notification", rows.len(), |k, buf| {
            c.strings.prefetch_ahead(&ids, k);
            match rows[k].notification {
                Ok(id) => last.push_to(&c.strings, id, buf),
                Err(text) => buf.push_str(text),
            }
            true
        })
        .flags("notification_known", rows.iter().map(|r| r.known))
        .text_with("request", rows.len(), |k, buf| {
            c.strings.prefetch_ahead(&requests, k);
            match &rows[k].request {
                Ok(r) => {
                    c.strings.push_to(*r, buf);
                    if *bsn_in.entry(*r).or_insert_with(|| mentions_bsn(buf)) {
                        *buf = redact_bsn(buf);
                    }
                }
                Err(text) => buf.push_str(text),
            }
            true
        })
        .text("kind", rows.iter().map(|r| r.kind))
        .text("source", rows.iter().map(|r| r.source))
        .text("input_code", rows.iter().map(|r| r.code.as_deref()))
        .flags("expected", rows.iter().map(|r| r.expected))
        .ints("attempts", rows.iter().map(|r| r.attempts))
        .ts("first_attempt", rows.iter().map(|r| r.first))
        .ts("last_attempt", rows.iter().map(|r| r.last))
        .int("last_status", rows.iter().map(|r| r.last_status))
        .flags("succeeded", rows.iter().map(|r| r.succeeded_at.is_some()))
        .ts("succeeded_at", rows.iter().map(|r| r.succeeded_at))
        .finish()
}
