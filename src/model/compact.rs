//! The compact model the checks and tables read: one `Slot` per notification (texts as symbols,
//! lists as ranges into `Core`'s vectors), the pulls of each (notification, request) in 32 bytes,
//! and `Core`'s read views that give them back in the public terms.

use super::{BsnRoute, ExpectedRequest, Notification, PullStats, RequestSource};
use crate::fhir::task::{RequestKind, Task, TaskRequest};
use crate::ingest::intern::{Strings, Sym};
use crate::ingest::task::{TaskInfo, TaskReq};
use crate::ingest::{Interaction, Origin, Side};
use crate::secret::Secret;
use hashbrown::HashTable;
use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) use crate::ingest::task::Ts;

/// A status in 2 bytes (0 = no answer).
pub(crate) fn st(s: Option<u16>) -> u16 {
    s.unwrap_or(0)
}

pub(crate) fn unst(s: u16) -> Option<u16> {
    (s != 0).then_some(s)
}

pub(crate) fn is_2xx(s: u16) -> bool {
    (200..=299).contains(&s)
}

/// An expected request of a notification.
#[derive(Debug, Clone)]
pub(crate) struct Exp {
    pub request: Sym,
    pub kind: RequestKind,
    pub source: RequestSource,
    pub code: Sym,
}

/// The pulls of one (notification, request), in 32 bytes. While reading, `request` is the
/// request as written; `Builder::finish` normalises it in place and merges the entries of a
/// notification that normalise alike. A pull tried more than once keeps its attempts in
/// `Core::tries` (flag `HAS_TRIES`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullAgg {
    /// Time of the last attempt (by time, then file order).
    pub last: i64,
    pub request: Sym,
    /// The next entry of the same notification (`u32::MAX` ends the list).
    pub next: u32,
    /// 0 for an entry merged into another.
    pub attempts: u32,
    /// File order of the last attempt.
    pub last_ord: u32,
    pub last_status: u16,
    pub interaction: Interaction,
    pub flags: u8,
}

pub(crate) const HAS_TRIES: u8 = 1;
pub(crate) const HAS_BASE: u8 = 2;

/// One attempt of a pull tried more than once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Try {
    pub ts: i64,
    pub ord: u32,
    pub status: u16,
    pub interaction: Interaction,
}

/// What the checks and tables read of a (notification, request)'s pulls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullView<'a> {
    pub request: Sym,
    pub attempts: u32,
    pub first: i64,
    pub last: i64,
    pub last_status: u16,
    pub interaction: Interaction,
    pub succeeded_at: Ts,
    /// Every attempt in time order (empty for a single attempt).
    pub tries: &'a [Try],
}

/// One notification, compact. Texts are symbols; lists are ranges into `Core`'s vectors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    pub id: Sym,
    pub task: TaskInfo,
    pub task_side: u8,
    /// Where the chosen Task came from: input file (top 24 bits) and position.
    pub task_src: u64,
    /// The low 64 bits of the chosen Task body's hash (0: not known).
    pub task_hash: u64,
    pub reqs: (u32, u32),
    pub sent_count: u32,
    pub sent_min: Ts,
    pub sent_last_status: u16,
    pub sent_2xx: bool,
    pub recv_count: u32,
    pub recv_first: Ts,
    pub receipt: Ts,
    pub base: Sym,
    pub base_ts: Ts,
    pub assertion_flag: bool,
    pub bsn_head: u32,
    pub pull_head: u32,
    pub wf: u32,
    pub cancelled_at: Ts,
    pub group_position: u32,
    pub group_size: u32,
    pub current: bool,
    pub first_in_group: bool,
    pub exp: (u32, u32),
    pub pulls: (u32, u32),
    pub bsns: (u32, u32),
}

impl Slot {
    pub fn has_notify(&self) -> bool {
        self.task_side != 0
    }

    pub fn in_sent_log(&self) -> bool {
        self.sent_count > 0
    }

    pub fn delivered(&self) -> bool {
        self.receipt.is_some()
    }

    pub fn expired(&self, as_of: i64) -> bool {
        self.task.expires.get().is_some_and(|e| e < as_of)
    }

    /// Send time: the earliest sent notify; for a receiver-only notification, its first receipt.
    pub fn send_time(&self) -> i64 {
        self.sent_min.get().or(self.recv_first.get()).unwrap_or(0)
    }

    /// The group: `groupIdentifier`, else the identifier itself.
    pub fn group_key(&self) -> Sym {
        if self.task.group.is_some() {
            self.task.group
        } else {
            self.id
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }

    pub fn replayable(&self, as_of: i64) -> bool {
        self.current && !self.cancelled() && !self.expired(as_of)
    }
}

/// A Workflow Task body and its requests.
#[derive(Debug, Clone)]
pub(crate) struct Workflow {
    pub task: TaskInfo,
    pub reqs: Vec<TaskReq>,
    pub ts: i64,
    /// Where the body came from: input file (top 24 bits) and position.
    pub src: u64,
}

/// Why a notification is malformed, in the order the problems were first seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct Malformed {
    pub problems: Vec<&'static str>,
    pub origin: Option<Origin>,
}

/// The compact model.
#[derive(Debug, Default)]
pub(crate) struct Core {
    pub strings: Strings,
    /// The input files, by number (to read a record again).
    pub files: Vec<(std::path::PathBuf, crate::ingest::Format)>,
    pub slots: Vec<Slot>,
    /// The notifications (slots with a notify), in the order they were first notified.
    pub order: Vec<u32>,
    pub task_reqs: Vec<TaskReq>,
    pub exps: Vec<Exp>,
    pub pulls: Vec<PullAgg>,
    /// Each notification's pulls (indices into `pulls`), in request text order.
    pub pull_order: Vec<u32>,
    pub tries: Vec<Vec<Try>>,
    /// Entry → index into `tries` (for entries with `HAS_TRIES`).
    pub tries_of: crate::ingest::intern::SymMap<u32, u32>,
    pub bsns: Vec<(BsnRoute, Sym)>,
    pub workflows: Vec<Workflow>,
    pub malformed: HashMap<u32, Malformed>,
    pub nonstandard: HashMap<u32, Sym>,
    /// The second receipt of notifications received more than once.
    pub recv_second: crate::ingest::intern::SymMap<u32, i64>,
    /// Cancellations: the sender's earliest cancel, and whether the receiver accepted one.
    pub cancels: crate::ingest::intern::SymMap<u32, (Ts, bool)>,
    /// Notification key → position in `order` (built on first use).
    pub index: OnceLock<HashTable<usize>>,
}

impl Core {
    pub fn s(&self, sym: Sym) -> std::borrow::Cow<'_, str> {
        self.strings.get(sym)
    }

    pub fn opt(&self, sym: Sym) -> Option<String> {
        self.strings.opt(sym)
    }

    pub fn exps(&self, n: &Slot) -> &[Exp] {
        &self.exps[n.exp.0 as usize..(n.exp.0 + n.exp.1) as usize]
    }

    /// The pulls of entry `i`.
    pub fn pull_view(&self, i: u32) -> PullView<'_> {
        let p = &self.pulls[i as usize];
        if p.flags & HAS_TRIES != 0
            && let Some(t) = self.tries_of.get(&i)
        {
            let tries = &self.tries[*t as usize][..];
            let mut succeeded_at = Ts::NONE;
            for t in tries {
                if is_2xx(t.status) {
                    succeeded_at.min_with(t.ts);
                }
            }
            return PullView {
                request: p.request,
                attempts: p.attempts,
                first: tries.first().map_or(p.last, |t| t.ts),
                last: p.last,
                last_status: p.last_status,
                interaction: p.interaction,
                succeeded_at,
                tries,
            };
        }
        PullView {
            request: p.request,
            attempts: p.attempts,
            first: p.last,
            last: p.last,
            last_status: p.last_status,
            interaction: p.interaction,
            succeeded_at: if is_2xx(p.last_status) {
                Ts(p.last)
            } else {
                Ts::NONE
            },
            tries: &[],
        }
    }

    /// A notification's pulls, by request text.
    pub fn pulls_of<'a>(&'a self, n: &Slot) -> impl Iterator<Item = PullView<'a>> + 'a {
        self.pull_order[n.pulls.0 as usize..(n.pulls.0 + n.pulls.1) as usize]
            .iter()
            .map(move |&i| self.pull_view(i))
    }

    pub fn bsns_of(&self, n: &Slot) -> &[(BsnRoute, Sym)] {
        &self.bsns[n.bsns.0 as usize..(n.bsns.0 + n.bsns.1) as usize]
    }

    pub fn task_reqs_of(&self, n: &Slot) -> &[TaskReq] {
        &self.task_reqs[n.reqs.0 as usize..(n.reqs.0 + n.reqs.1) as usize]
    }

    pub fn workflow(&self, n: &Slot) -> Option<&Workflow> {
        (n.wf != u32::MAX).then(|| &self.workflows[n.wf as usize])
    }

    pub fn workflow_active(&self, n: &Slot) -> bool {
        self.workflow(n).is_none_or(|w| w.task.workflow_active)
    }

    /// The pulls of `request` for this notification.
    pub fn pull(&self, n: &Slot, request: Sym) -> Option<PullView<'_>> {
        self.pull_order[n.pulls.0 as usize..(n.pulls.0 + n.pulls.1) as usize]
            .iter()
            .find(|&&i| self.pulls[i as usize].request == request)
            .map(|&i| self.pull_view(i))
    }

    pub fn succeeded(&self, n: &Slot, request: Sym) -> bool {
        self.pull(n, request)
            .is_some_and(|p| p.succeeded_at.is_some())
    }

    /// Every attempt's time of a pull, in order.
    pub fn times(&self, p: &PullView) -> Vec<i64> {
        if p.tries.is_empty() {
            vec![p.first]
        } else {
            p.tries.iter().map(|t| t.ts).collect()
        }
    }

    pub fn malformations(&self, i: u32) -> &[&'static str] {
        self.malformed
            .get(&i)
            .map_or(&[][..], |m| m.problems.as_slice())
    }

    /// The rarely read texts of a Task.
    pub fn shape(&self, shape: Sym) -> crate::ingest::task::Shape {
        crate::ingest::task::Shape::decode(&self.s(shape))
    }

    /// Notification key → position in `order`.
    pub fn position(&self, id: &str) -> Option<&usize> {
        let index = self.index.get_or_init(|| {
            let hash = |p: usize| {
                xxhash_rust::xxh3::xxh3_64(
                    self.strings
                        .get(self.slots[self.order[p] as usize].id)
                        .as_bytes(),
                )
            };
            let mut t: HashTable<usize> = HashTable::with_capacity(self.order.len());
            for p in 0..self.order.len() {
                t.insert_unique(hash(p), p, |&q| hash(q));
            }
            t
        });
        let h = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        index.find(h, |&p| {
            self.strings.get(self.slots[self.order[p] as usize].id) == id
        })
    }

    /// The authorization-base of the Task (`body`: the Workflow Task of a pull) logged at `src`.
    fn authorization_base(&self, src: u64, body: bool) -> Option<Secret> {
        let file = (src >> 40) as usize;
        let (path, format) = self.files.get(file)?;
        let event = crate::ingest::event_at(path, *format, src & ((1 << 40) - 1));
        let task = event.and_then(|e| if body { e.body } else { e.task });
        match task.and_then(|t| t.authorization_base) {
            Some(a) => Some(a),
            None => {
                tracing::warn!(
                    file = %path.display(),
                    "the authorization-base of a Task could not be read again from its log"
                );
                None
            }
        }
    }

    /// The full `Task` of a compact one (`src`: where it was logged, for its authorization-base;
    /// `body`: it is the Workflow Task body of a pull).
    pub fn task(&self, t: &TaskInfo, reqs: &[TaskReq], src: Option<u64>, body: bool) -> Task {
        let shape = self.shape(t.shape);
        Task {
            resource_type: shape.resource_type,
            id: self.opt(t.id),
            identifier: self.opt(t.identifier),
            group: self.opt(t.group),
            status: shape.status,
            intent: shape.intent,
            code: shape.code,
            based_on: self.opt(t.based_on),
            patient_bsn: self.opt(t.patient_bsn),
            sender_org: self.opt(t.sender_org),
            sender_agent: self.opt(t.sender_agent),
            receiver_org: self.opt(t.receiver_org),
            authored_on: t.authored_on.get(),
            expires: t.expires.get(),
            expires_unreadable: t.expires_unreadable,
            get_workflow_task: t.get_workflow_task,
            authorization_base: if t.has_authorization_base {
                src.and_then(|s| self.authorization_base(s, body))
            } else {
                None
            },
            requests: reqs
                .iter()
                .map(|r| TaskRequest {
                    kind: r.kind.clone(),
                    raw: self.s(r.raw).into_owned(),
                    code: self.opt(r.code),
                })
                .collect(),
        }
    }

    /// The full public form of the notification in slot `i`.
    pub fn materialise(&self, i: u32) -> Notification {
        let n = &self.slots[i as usize];
        let m = self.malformed.get(&i);
        Notification {
            id: self.s(n.id).into_owned(),
            task: self.task(&n.task, self.task_reqs_of(n), Some(n.task_src), false),
            task_side: match n.task_side {
                1 => Some(Side::Sent),
                2 => Some(Side::Received),
                _ => None,
            },
            sent_count: n.sent_count as usize,
            sent_last_status: unst(n.sent_last_status),
            sent_success: n.sent_2xx,
            received_count: n.recv_count as usize,
            received_first: n.recv_first.get(),
            received_second: self.recv_second.get(&i).copied(),
            cancel_sent_at: self.cancels.get(&i).and_then(|c| c.0.get()),
            cancel_received: self.cancels.get(&i).is_some_and(|c| c.1),
            send_time: n.send_time(),
            receipt: n.receipt.get(),
            cancelled_at: n.cancelled_at.get(),
            group_key: self.s(n.group_key()).into_owned(),
            group_size: n.group_size as usize,
            group_position: n.group_position as usize,
            current: n.current,
            first_in_group: n.first_in_group,
            sender_base: self.opt(n.base),
            malformations: m.map(|m| m.problems.clone()).unwrap_or_default(),
            malformed_origin: m.and_then(|m| m.origin),
            nonstandard_code_system: self
                .nonstandard
                .get(&i)
                .map(|s| self.shape(*s).code.and_then(|c| c.0).unwrap_or_default()),
            bsns: self
                .bsns_of(n)
                .iter()
                .map(|(r, b)| (*r, self.s(*b).into_owned()))
                .collect(),
            assertion_flag: n.assertion_flag,
            workflow: self
                .workflow(n)
                .map(|w| self.task(&w.task, &w.reqs, Some(w.src), true)),
            expected: self
                .exps(n)
                .iter()
                .map(|e| ExpectedRequest {
                    request: self.s(e.request).into_owned(),
                    kind: e.kind.clone(),
                    source: e.source,
                    code: self.opt(e.code),
                })
                .collect(),
            pulls: self
                .pulls_of(n)
                .map(|p| {
                    (
                        self.s(p.request).into_owned(),
                        PullStats {
                            attempts: p.attempts,
                            first: p.first,
                            last: p.last,
                            last_status: unst(p.last_status),
                            succeeded_at: p.succeeded_at.get(),
                            interaction: Some(p.interaction),
                            times: self.times(&p),
                        },
                    )
                })
                .collect(),
        }
    }
}
