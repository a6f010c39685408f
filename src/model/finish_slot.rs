//! Completing one notification once every event is in (`Builder::finish` runs this per block of
//! notifications, in parallel): its expected requests from the Task's inputs and `basedOn`, its
//! pulls matched and merged by request key (the event's own base first), and its BSN routes.
//! Request keys are interned and memoised per (text, base) by each worker.

use super::build::{BsnAgg, NONE};
use super::canon::is_canonical;
use super::{BsnRoute, Exp, HAS_BASE, HAS_TRIES, PullAgg, RequestSource, Slot, Try, Workflow};
use crate::fhir::request::key as request_key;
use crate::fhir::task::RequestKind;
use crate::ingest::intern::{Interner, Sym, SymMap};
use crate::ingest::task::TaskReq;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct BlockOut {
    pub(super) exps: Vec<Exp>,
    /// Each notification's pull entries, one notification after the other.
    pub(super) order: Vec<u32>,
    /// Entries whose normalised request differs from the request as written.
    pub(super) requests: Vec<(u32, Sym)>,
    /// Entries with more than one attempt (their attempts in order), merged or not.
    pub(super) merges: Vec<(u32, PullAgg, Vec<Try>)>,
    /// Entries merged into another.
    pub(super) dead: Vec<u32>,
    pub(super) bsns: Vec<(BsnRoute, Sym)>,
    /// Pull entries of identifiers that no notify carries.
    pub(super) stray: Vec<(Sym, u32)>,
}

/// What `finish_slot` reads of the builder.
pub(super) struct FinishCtx<'a> {
    pub(super) norm: &'a Normaliser<'a>,
    pub(super) sender_bases: &'a HashMap<Sym, Sym>,
    pub(super) task_ref_code: Sym,
    pub(super) task_reqs: &'a [TaskReq],
    pub(super) pulls: &'a [PullAgg],
    pub(super) tries: &'a [Vec<Try>],
    pub(super) tries_of: &'a SymMap<u32, u32>,
    pub(super) pull_bases: &'a SymMap<u32, Sym>,
    pub(super) bsns: &'a [BsnAgg],
    pub(super) workflows: &'a [Workflow],
}

impl FinishCtx<'_> {
    /// Asks for the first pull, BSN and Task input of a notification to be brought into the
    /// cache ahead of its completion (a hint; nothing is read).
    pub(super) fn prefetch(&self, n: &Slot) {
        use crate::ingest::intern::prefetch;
        if let Some(p) = self.pulls.get(n.pull_head as usize) {
            prefetch(std::ptr::from_ref(p).cast());
        }
        if let Some(b) = self.bsns.get(n.bsn_head as usize) {
            prefetch(std::ptr::from_ref(b).cast());
        }
        if let Some(r) = self.task_reqs.get(n.reqs.0 as usize) {
            prefetch(std::ptr::from_ref(r).cast());
        }
    }
}

/// Request normalisation with interned results.
pub(super) struct Normaliser<'a> {
    pub(super) interner: &'a Interner,
    pub(super) bases: &'a HashMap<Sym, String>,
}

impl Normaliser<'_> {
    /// `request_key(raw, base)` (the canonical form, BSNs redacted) as a symbol; the work is
    /// skipped when the text is already canonical and the base cannot apply, and remembered
    /// per (text, base).
    fn norm(&self, raw: Sym, base: Sym, memo: &mut SymMap<u64, Sym>) -> Sym {
        // One number per (text, base) pair.
        let key = (u64::from(base.index() as u32) << 32) | u64::from(raw.index() as u32);
        if let Some(&m) = memo.get(&key) {
            return m;
        }
        let base_text = base
            .opt()
            .and_then(|b| self.bases.get(&b))
            .map(String::as_str);
        let r = self.interner.with_str(raw, |text| {
            if let Some(b) = base_text
                && base_applies(text, b)
            {
                let n = request_key(text, Some(b));
                return (n != text).then_some(n);
            }
            if is_canonical(text) {
                None
            } else {
                let n = request_key(text, None);
                (n != text).then_some(n)
            }
        });
        let out = match r {
            None => raw,
            Some(n) => self.interner.intern(&n),
        };
        memo.insert(key, out);
        out
    }
}

/// Whether `normalise` would strip `base` from `text` (as it checks it).
fn base_applies(text: &str, base: &str) -> bool {
    let b = base.trim().trim_end_matches('/');
    // Cheap tests first: most requests are relative and cannot start with a base.
    if b.is_empty()
        || !text.starts_with(|c: char| {
            c.is_whitespace() || c.eq_ignore_ascii_case(&b.chars().next().unwrap_or(' '))
        })
    {
        return false;
    }
    let text = text.trim();
    !b.is_empty()
        && text.len() > b.len()
        && text.is_char_boundary(b.len())
        && text[..b.len()].eq_ignore_ascii_case(b)
        && text.as_bytes()[b.len()] == b'/'
}

pub(super) fn finish_slot(
    n: &mut Slot,
    cx: &FinishCtx,
    memo: &mut SymMap<u64, Sym>,
    out: &mut BlockOut,
) {
    let norm = cx.norm;
    if !n.has_notify() {
        // Pulls for an identifier no notify carries: each attempt is a stray pull.
        let mut cur = n.pull_head;
        while cur != NONE {
            out.stray.push((n.id, cur));
            cur = cx.pulls[cur as usize].next;
        }
        n.exp = (out.exps.len() as u32, 0);
        n.pulls = (out.order.len() as u32, 0);
        n.bsns = (out.bsns.len() as u32, 0);
        return;
    }
    if n.base.is_none()
        && let Some(&b) = n
            .task
            .sender_org
            .opt()
            .and_then(|o| cx.sender_bases.get(&o))
    {
        n.base = b;
    }
    // Expected requests of the Notification Task.
    let e0 = out.exps.len();
    let reqs = &cx.task_reqs[n.reqs.0 as usize..(n.reqs.0 + n.reqs.1) as usize];
    for r in reqs {
        let request = norm.norm(r.raw, n.base, memo);
        let source = RequestSource::NotificationTask;
        push_expected(&mut out.exps, e0, request, r.kind.clone(), source, r.code);
    }
    if n.task.get_workflow_task == Some(true) && n.task.based_on.is_some() {
        let text = norm.interner.with_str(n.task.based_on, |id| {
            request_key(&format!("Task/{id}"), None)
        });
        let request = norm.interner.intern(&text);
        let (kind, source) = (RequestKind::WorkflowTask, RequestSource::WorkflowTaskRef);
        push_expected(&mut out.exps, e0, request, kind, source, cx.task_ref_code);
    }

    // The pulls, by normalised request (the event's own base first). Entries that normalise to
    // the same request merge: their attempts together, in event order.
    let p0 = out.order.len();
    let mut mine: Vec<(Sym, u32)> = Vec::new();
    let mut cur = n.pull_head;
    while cur != NONE {
        let p = &cx.pulls[cur as usize];
        let base = if p.flags & HAS_BASE != 0 {
            cx.pull_bases.get(&cur).copied().unwrap_or(Sym::NONE)
        } else {
            n.base
        };
        mine.push((norm.norm(p.request, base, memo), cur));
        cur = p.next;
    }
    mine.sort_unstable();
    let mut k = 0;
    while k < mine.len() {
        let request = mine[k].0;
        let mut end = k;
        while end < mine.len() && mine[end].0 == request {
            end += 1;
        }
        let (first, first_entry) = (mine[k].1, cx.pulls[mine[k].1 as usize]);
        if end - k == 1 && first_entry.flags & HAS_TRIES == 0 {
            if first_entry.request != request {
                out.requests.push((first, request));
            }
        } else {
            let mut all: Vec<Try> = mine[k..end]
                .iter()
                .flat_map(|&(_, e)| tries_of(&cx.pulls[e as usize], e, cx.tries, cx.tries_of))
                .collect();
            all.sort_unstable_by_key(|t| (t.ts, t.ord));
            let last = all[all.len() - 1];
            let mut agg = first_entry;
            agg.request = request;
            agg.attempts = all.len() as u32;
            agg.last = last.ts;
            agg.last_ord = last.ord;
            agg.last_status = last.status;
            agg.interaction = last.interaction;
            agg.flags |= HAS_TRIES;
            out.merges.push((first, agg, all));
            out.dead.extend(mine[k + 1..end].iter().map(|&(_, e)| e));
        }
        out.order.push(first);
        k = end;
    }

    // BSNs in the order first seen; the Workflow Task's last.
    let b0 = out.bsns.len();
    let mut mine: Vec<(i64, u32, BsnRoute, Sym)> = Vec::new();
    let mut cur = n.bsn_head;
    while cur != NONE {
        let b = &cx.bsns[cur as usize];
        mine.push((b.ts, b.ord, b.route, b.value));
        cur = b.next;
    }
    mine.sort_unstable_by_key(|&(t, o, _, _)| (t, o));
    out.bsns.extend(mine.into_iter().map(|(_, _, r, v)| (r, v)));

    // The Workflow Task: its BSN, and its read and search inputs.
    if n.wf != NONE {
        let wf = &cx.workflows[n.wf as usize];
        if wf.task.patient_bsn.is_some() {
            out.bsns.push((BsnRoute::WorkflowTask, wf.task.patient_bsn));
        }
        for r in &wf.reqs {
            let request = norm.norm(r.raw, n.base, memo);
            let source = RequestSource::WorkflowTask;
            push_expected(&mut out.exps, e0, request, r.kind.clone(), source, r.code);
        }
    }
    n.exp = (e0 as u32, (out.exps.len() - e0) as u32);
    n.pulls = (p0 as u32, (out.order.len() - p0) as u32);
    n.bsns = (b0 as u32, (out.bsns.len() - b0) as u32);
}

/// Adds an expected request to a notification's (those from `e0` on), unless it is already one.
fn push_expected(
    exps: &mut Vec<Exp>,
    e0: usize,
    request: Sym,
    kind: RequestKind,
    source: RequestSource,
    code: Sym,
) {
    if !exps[e0..].iter().any(|e| e.request == request) {
        exps.push(Exp {
            request,
            kind,
            source,
            code,
        });
    }
}

/// Every attempt of a pull entry, with its order.
pub(super) fn tries_of(
    p: &PullAgg,
    e: u32,
    tries: &[Vec<Try>],
    tries_of: &SymMap<u32, u32>,
) -> Vec<Try> {
    if p.flags & HAS_TRIES != 0
        && let Some(&t) = tries_of.get(&e)
    {
        return tries[t as usize].clone();
    }
    vec![Try {
        ts: p.last,
        ord: p.last_ord,
        status: p.last_status,
        interaction: p.interaction,
    }]
}
