//! Building the model: `Builder::add` folds one compact event at a time, in file order, into the
//! aggregate of its notification (or message); `Builder::finish` completes it once every event is
//! in. Events come in file order, not time order, so every "first" and "last" is kept as a minimum
//! or maximum by time; ties go to the earlier event in file order, exactly as sorting all events by
//! (time, side, file, line) and walking them would.

use super::{BsnRoute, HAS_BASE, HAS_TRIES, PullAgg, Slot, Try, Ts, Workflow, is_2xx, st};
use crate::ingest::compact::{Body, CEvent};
use crate::ingest::intern::{Interner, Sym, SymMap};
use crate::ingest::task::{PROBLEMS, TaskInfo, TaskReq};
use crate::ingest::{Interaction, Origin, Side};
use std::collections::{HashMap, HashSet};

mod complete;

pub(super) const NONE: u32 = u32::MAX;

/// A BSN seen for a notification, with the event that first showed it.
#[derive(Debug, Clone)]
pub(super) struct BsnAgg {
    pub(super) ts: i64,
    pub(super) value: Sym,
    /// File order of the event (twice over, to put a Task's BSN before its assertion's).
    pub(super) ord: u32,
    pub(super) next: u32,
    pub(super) route: BsnRoute,
}

/// When each problem of a malformed notification was first seen.
#[derive(Debug, Clone, Default)]
struct MalformAgg {
    first: [Option<(i64, u64)>; 5],
    origin: Option<(i64, u64, Origin)>,
}

#[derive(Debug, Clone)]
struct CancelRec {
    ts: i64,
    ord: u64,
    side: Side,
    origin: Origin,
    status: Option<u16>,
    id: Sym,
    sender: Sym,
    receiver: Sym,
}

#[derive(Debug, Clone)]
struct PushAgg {
    message: Sym,
    sent_count: u32,
    sent_first: Ts,
    sent_last: Ts,
    sent_last_status: u16,
    recv_count: u32,
    recv_first: Ts,
    processed_first: Ts,
    sender: Sym,
    sender_ts: Ts,
    receiver: Sym,
    receiver_ts: Ts,
}

/// Folds events into the model.
pub struct Builder {
    slots: Vec<Slot>,
    by_sym: Vec<u32>,
    task_reqs: Vec<TaskReq>,
    pulls: Vec<PullAgg>,
    /// Every attempt of pulls tried more than once, and which entry has which list.
    tries: Vec<Vec<Try>>,
    tries_of: SymMap<u32, u32>,
    /// The `sender_base` of pull events that carry one, by entry.
    pull_bases: SymMap<u32, Sym>,
    bsns: Vec<BsnAgg>,
    workflows: Vec<Workflow>,
    malformed: HashMap<u32, MalformAgg>,
    nonstandard: HashMap<u32, (i64, Sym)>,
    unkeyed: Vec<(Origin, Side, TaskInfo, Vec<TaskReq>)>,
    cancels: Vec<CancelRec>,
    pushes: Vec<PushAgg>,
    push_by_sym: SymMap<Sym, u32>,
    /// Last send of notifications sent more than once; second receipt of those received more
    /// than once; cancellations.
    sent_last: SymMap<u32, i64>,
    recv_second: SymMap<u32, i64>,
    cancel_info: SymMap<u32, (Ts, bool)>,
    covered: HashSet<Sym>,
    sent_log_pulls: u64,
    ord: u64,
}

impl Builder {
    /// `expected_events` sizes the main vectors (a guess is fine).
    pub fn new(_interner: &Interner, expected_events: usize) -> Self {
        Builder {
            slots: Vec::with_capacity(expected_events / 4),
            by_sym: Vec::new(),
            task_reqs: Vec::with_capacity(expected_events / 2),
            pulls: Vec::with_capacity(expected_events * 2 / 3),
            tries: Vec::new(),
            tries_of: SymMap::default(),
            pull_bases: SymMap::default(),
            bsns: Vec::with_capacity(expected_events / 3),
            workflows: Vec::new(),
            malformed: HashMap::new(),
            nonstandard: HashMap::new(),
            unkeyed: Vec::new(),
            cancels: Vec::new(),
            pushes: Vec::new(),
            push_by_sym: SymMap::default(),
            sent_last: SymMap::default(),
            recv_second: SymMap::default(),
            cancel_info: SymMap::default(),
            covered: HashSet::new(),
            sent_log_pulls: 0,
            ord: 0,
        }
    }

    /// Bytes reserved by the main vectors, by name (capacity × element size), for the debug log.
    pub fn footprint(&self) -> Vec<(&'static str, usize)> {
        use std::mem::size_of;
        fn v<T>(x: &Vec<T>) -> usize {
            x.capacity() * size_of::<T>()
        }
        vec![
            ("slots", v(&self.slots)),
            ("by_sym", v(&self.by_sym)),
            ("task_reqs", v(&self.task_reqs)),
            ("pulls", v(&self.pulls)),
            ("tries", v(&self.tries)),
            ("tries_of", self.tries_of.capacity() * 8),
            ("pull_bases", self.pull_bases.capacity() * 8),
            ("bsns", v(&self.bsns)),
            ("workflows", v(&self.workflows)),
            ("cancels", v(&self.cancels)),
            ("pushes", v(&self.pushes)),
            ("sent_last", self.sent_last.capacity() * 12),
            ("recv_second", self.recv_second.capacity() * 12),
            ("cancel_info", self.cancel_info.capacity() * 24),
            ("unkeyed", v(&self.unkeyed)),
        ]
    }

    fn slot_of(&mut self, id: Sym) -> u32 {
        let k = id.index();
        if k >= self.by_sym.len() {
            let want = (k + 1).max(self.by_sym.len() * 3 / 2).max(1024);
            self.by_sym.resize(want, NONE);
        }
        if self.by_sym[k] == NONE {
            self.by_sym[k] = self.slots.len() as u32;
            self.slots.push(Slot {
                id,
                bsn_head: NONE,
                pull_head: NONE,
                wf: NONE,
                ..Slot::default()
            });
        }
        self.by_sym[k]
    }

    /// Folds one event (in file order: sent files first, each from its first line on); `at` is
    /// its position in its file (see `ingest::event_at`). `false`: the event names a Task body
    /// by its hash that is not the body kept for its notification; give it again read in full.
    pub fn add(&mut self, side: Side, origin: Origin, at: u64, e: CEvent) -> bool {
        let src = (u64::from(origin.file) << 40) | (at & ((1 << 40) - 1));
        if let Body::NotifyKnown { id, body_hash, .. } = &e.body {
            let slot = self.by_sym.get(id.index()).copied().unwrap_or(NONE);
            let ok = slot != NONE && {
                let n = &self.slots[slot as usize];
                n.has_notify() && n.task_hash == *body_hash && *body_hash != 0
            };
            if !ok {
                return false;
            }
        }
        self.ord += 1;
        let ord = self.ord;
        let CEvent {
            ts,
            interaction,
            status,
            body,
        } = e;
        match body {
            Body::Notify {
                task,
                requests,
                body_hash,
                assertion,
                assertion_bsn,
                sender_base,
            } => self.notify(
                side,
                origin,
                src,
                ts,
                ord,
                status,
                (*task, requests, body_hash, false),
                assertion,
                assertion_bsn,
                sender_base,
            ),
            Body::NotifyKnown {
                id,
                body_hash,
                assertion,
                assertion_bsn,
                sender_base,
            } => {
                // The body is the one kept for this notification: its Task, without reading it.
                let slot = self.by_sym[id.index()] as usize;
                let task = self.slots[slot].task.clone();
                self.notify(
                    side,
                    origin,
                    src,
                    ts,
                    ord,
                    status,
                    (task, Vec::new(), body_hash, true),
                    assertion,
                    assertion_bsn,
                    sender_base,
                )
            }
            Body::Cancel { task } => self.cancels.push(CancelRec {
                ts,
                ord,
                side,
                origin,
                status,
                id: task.identifier,
                sender: task.sender_org,
                receiver: task.receiver_org,
            }),
            Body::Pull {
                notification,
                request,
                sender_base,
                body,
            } => {
                if side == Side::Sent {
                    self.sent_log_pulls += 1;
                } else {
                    self.pull(
                        src,
                        ts,
                        ord,
                        status,
                        interaction,
                        notification,
                        request,
                        sender_base,
                        body,
                    );
                }
            }
            Body::Push {
                message,
                outcome: _,
                sender,
                receiver,
            } => self.push(side, ts, status, interaction, message, sender, receiver),
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        side: Side,
        origin: Origin,
        src: u64,
        ts: i64,
        ord: u64,
        status: Option<u16>,
        (task, requests, body_hash, same_body): (TaskInfo, Vec<TaskReq>, u64, bool),
        assertion: Option<bool>,
        assertion_bsn: Sym,
        sender_base: Sym,
    ) {
        if side == Side::Sent && task.sender_org.is_some() {
            self.covered.insert(task.sender_org);
        }
        if task.identifier.is_none() {
            self.unkeyed.push((origin, side, task, requests));
            return;
        }
        let i = self.slot_of(task.identifier);
        // The Task used: the first sent-log body, else the first received-log one. The chosen
        // body's time is the earliest of its side (`sent_min`, `recv_first`), before this event.
        let better = {
            let n = &self.slots[i as usize];
            match n.task_side {
                0 => true,
                2 => side == Side::Sent || n.recv_first.get().is_none_or(|t| ts < t),
                _ => side == Side::Sent && n.sent_min.get().is_none_or(|t| ts < t),
            }
        };
        if task.problems != 0 {
            let m = self.malformed.entry(i).or_default();
            for b in 0..PROBLEMS.len() {
                if task.problems & (1 << b) != 0 && m.first[b].is_none_or(|(t, _)| ts < t) {
                    m.first[b] = Some((ts, ord));
                }
            }
            if m.origin.is_none_or(|(t, _, _)| ts < t) {
                m.origin = Some((ts, ord, origin));
            }
        }
        if task.nonstandard_code_system {
            // The shape holds the code system (read when the finding is written).
            match self.nonstandard.get(&i) {
                Some((t, _)) if *t <= ts => {}
                _ => {
                    self.nonstandard.insert(i, (ts, task.shape));
                }
            }
        }
        if task.patient_bsn.is_some() {
            self.add_bsn(i, BsnRoute::Task, task.patient_bsn, ts, ord * 2);
        }
        match side {
            Side::Sent => {
                if assertion_bsn.is_some() {
                    self.add_bsn(i, BsnRoute::Assertion, assertion_bsn, ts, ord * 2 + 1);
                }
                let n = &mut self.slots[i as usize];
                if assertion == Some(true) {
                    n.assertion_flag = true;
                }
                n.sent_count += 1;
                // The last send (by time, ties to the later line): kept aside once there are two.
                let last = if n.sent_count == 1 {
                    None
                } else {
                    Some(self.sent_last.get(&i).copied().unwrap_or(n.sent_min.0))
                };
                n.sent_min.min_with(ts);
                let wins = last.is_none_or(|l| ts >= l);
                if wins {
                    n.sent_last_status = st(status);
                }
                if let Some(l) = last {
                    self.sent_last.insert(i, if wins { ts } else { l });
                }
                n.sent_2xx |= is_2xx(st(status));
            }
            Side::Received => {
                let n = &mut self.slots[i as usize];
                n.recv_count += 1;
                let second = self.recv_second.get(&i).copied();
                match (n.recv_first.get(), second) {
                    (None, _) => n.recv_first = Ts::from(Some(ts)),
                    (Some(f), _) if ts < f => {
                        self.recv_second.insert(i, f);
                        n.recv_first = Ts::from(Some(ts));
                    }
                    (Some(_), s) if s.is_none_or(|s| ts < s) => {
                        self.recv_second.insert(i, ts);
                    }
                    _ => {}
                }
                if status.is_none() || is_2xx(st(status)) {
                    n.receipt.min_with(ts);
                }
            }
        }
        let n = &mut self.slots[i as usize];
        if sender_base.is_some() && n.base_ts.get().is_none_or(|b| ts < b) {
            n.base = sender_base;
            n.base_ts = Ts::from(Some(ts));
        }
        let side_no = if side == Side::Sent { 1 } else { 2 };
        if better {
            let n = &mut self.slots[i as usize];
            if !same_body {
                let start = self.task_reqs.len() as u32;
                self.task_reqs.extend(requests);
                n.reqs = (start, self.task_reqs.len() as u32 - start);
                n.task = task;
                n.task_hash = body_hash;
            }
            n.task_src = src;
            n.task_side = side_no;
        }
    }

    fn add_bsn(&mut self, i: u32, route: BsnRoute, value: Sym, ts: i64, ord: u64) {
        let mut cur = self.slots[i as usize].bsn_head;
        while cur != NONE {
            let b = &mut self.bsns[cur as usize];
            if b.route == route && b.value == value {
                if (ts, ord as u32) < (b.ts, b.ord) {
                    b.ts = ts;
                    b.ord = ord as u32;
                }
                return;
            }
            cur = b.next;
        }
        let head = self.slots[i as usize].bsn_head;
        self.bsns.push(BsnAgg {
            ts,
            value,
            ord: ord as u32,
            next: head,
            route,
        });
        self.slots[i as usize].bsn_head = self.bsns.len() as u32 - 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn pull(
        &mut self,
        src: u64,
        ts: i64,
        ord: u64,
        status: Option<u16>,
        interaction: Interaction,
        notification: Sym,
        request: Sym,
        base: Sym,
        body: Option<Box<(TaskInfo, Vec<TaskReq>)>>,
    ) {
        let i = self.slot_of(notification);
        let s = st(status);
        let ord = ord as u32;
        let mut cur = self.slots[i as usize].pull_head;
        while cur != NONE {
            let p = &self.pulls[cur as usize];
            if p.request == request {
                let b = if p.flags & HAS_BASE != 0 {
                    self.pull_bases.get(&cur).copied().unwrap_or(Sym::NONE)
                } else {
                    Sym::NONE
                };
                if b == base {
                    break;
                }
            }
            cur = p.next;
        }
        if cur == NONE {
            let head = self.slots[i as usize].pull_head;
            cur = self.pulls.len() as u32;
            self.pulls.push(PullAgg {
                last: ts,
                request,
                next: head,
                attempts: 1,
                last_ord: ord,
                last_status: s,
                interaction,
                flags: if base.is_some() { HAS_BASE } else { 0 },
            });
            if base.is_some() {
                self.pull_bases.insert(cur, base);
            }
            self.slots[i as usize].pull_head = cur;
        } else {
            let p = &mut self.pulls[cur as usize];
            if p.flags & HAS_TRIES == 0 {
                self.tries.push(vec![Try {
                    ts: p.last,
                    ord: p.last_ord,
                    status: p.last_status,
                    interaction: p.interaction,
                }]);
                self.tries_of.insert(cur, self.tries.len() as u32 - 1);
                p.flags |= HAS_TRIES;
            }
            if let Some(&t) = self.tries_of.get(&cur) {
                self.tries[t as usize].push(Try {
                    ts,
                    ord,
                    status: s,
                    interaction,
                });
            }
            p.attempts += 1;
            if ts >= p.last {
                p.last = ts;
                p.last_ord = ord;
                p.last_status = s;
                p.interaction = interaction;
            }
        }
        if is_2xx(s)
            && interaction == Interaction::GetWorkflowTask
            && let Some(body) = body
        {
            let (task, reqs) = *body;
            let n = &self.slots[i as usize];
            if n.wf == NONE {
                self.workflows.push(Workflow {
                    task,
                    reqs,
                    ts,
                    src,
                });
                self.slots[i as usize].wf = self.workflows.len() as u32 - 1;
            } else if ts < self.workflows[n.wf as usize].ts {
                self.workflows[n.wf as usize] = Workflow {
                    task,
                    reqs,
                    ts,
                    src,
                };
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        side: Side,
        ts: i64,
        status: Option<u16>,
        interaction: Interaction,
        message: Sym,
        sender: Sym,
        receiver: Sym,
    ) {
        let next = self.pushes.len() as u32;
        let i = *self.push_by_sym.entry(message).or_insert(next);
        if i == next {
            self.pushes.push(PushAgg {
                message,
                sent_count: 0,
                sent_first: Ts::NONE,
                sent_last: Ts::NONE,
                sent_last_status: 0,
                recv_count: 0,
                recv_first: Ts::NONE,
                processed_first: Ts::NONE,
                sender: Sym::NONE,
                sender_ts: Ts::NONE,
                receiver: Sym::NONE,
                receiver_ts: Ts::NONE,
            });
        }
        let p = &mut self.pushes[i as usize];
        match (interaction, side) {
            (Interaction::PushProcessed, _) => p.processed_first.min_with(ts),
            (_, Side::Sent) => {
                p.sent_count += 1;
                p.sent_first.min_with(ts);
                if p.sent_last.get().is_none_or(|l| ts >= l) {
                    p.sent_last = Ts::from(Some(ts));
                    p.sent_last_status = st(status);
                }
                if sender.is_some() {
                    self.covered.insert(sender);
                }
            }
            (_, Side::Received) => {
                p.recv_count += 1;
                p.recv_first.min_with(ts);
            }
        }
        if sender.is_some() && p.sender_ts.get().is_none_or(|t| ts < t) {
            p.sender = sender;
            p.sender_ts = Ts::from(Some(ts));
        }
        if receiver.is_some() && p.receiver_ts.get().is_none_or(|t| ts < t) {
            p.receiver = receiver;
            p.receiver_ts = Ts::from(Some(ts));
        }
    }
}

/// The shard (of `n`) a group, message or other subject belongs to.
pub fn shard_of(subject: &str, n: u32) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(subject.as_bytes()) % u64::from(n.max(1))) as u32
}
