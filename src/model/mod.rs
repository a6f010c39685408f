//! The model: what both logs together say about each notification (its Task, sends, receipts,
//! cancellations, group position, expected requests and the pulls done for them) and about each
//! pushed message.
//!
//! It is built by folding compact events as they are read (`Builder`, in `build.rs`), in file
//! order, into per-notification aggregates with interned texts; no event is kept. `Builder::finish`
//! then matches cancellations, orders groups, normalises requests and matches them with pulls. The
//! checks and tables read the compact form (`Core`, `Slot`); `model.notifications[i]` and
//! `model.index` hand out the full public `Notification`, built on first use, for replay and tests.

mod build;
pub(crate) mod canon;
mod finish_slot;

pub use build::{Builder, shard_of};

use crate::fhir::task::{RequestKind, Task, TaskRequest};
use crate::ingest::intern::{Strings, Sym};
use crate::ingest::task::{TaskInfo, TaskReq};
use crate::ingest::{Interaction, Origin, Side};
use crate::secret::Secret;
use hashbrown::HashTable;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// The parameters of a run that the model and the checks need.
#[derive(Debug, Clone)]
pub struct Params {
    /// UTC microseconds.
    pub as_of: i64,
    /// Microseconds.
    pub grace: i64,
    pub push_sla: i64,
    /// Sending organisation (`system|value`) → FHIR base URL, from the job file.
    pub senders: BTreeMap<String, String>,
}

impl Params {
    /// Old enough to be judged: `ts ≤ as_of − grace`.
    pub fn judged(&self, ts: i64) -> bool {
        ts <= self.as_of - self.grace
    }
}

/// One logged interaction attempt: when, and with which answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub ts: i64,
    pub status: Option<u16>,
    pub side: Side,
    pub origin: Origin,
}

impl Attempt {
    pub fn success(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }

    /// A received-log notify or cancel counts as received unless the receiver answered non-2xx.
    pub fn accepted(&self) -> bool {
        self.status.is_none() || self.success()
    }
}

/// Where an expected request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestSource {
    /// A read or search input of the Notification Task.
    NotificationTask,
    /// `Task/<basedOn id>`, because `get-workflow-task` is true.
    WorkflowTaskRef,
    /// A read or search input of the Workflow Task body.
    WorkflowTask,
}

impl RequestSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestSource::NotificationTask => "notification-task",
            RequestSource::WorkflowTaskRef => "workflow-task-reference",
            RequestSource::WorkflowTask => "workflow-task",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExpectedRequest {
    /// Normalised request text.
    pub request: String,
    pub kind: RequestKind,
    pub source: RequestSource,
    pub code: Option<String>,
}

/// The pulls logged for one (notification, request).
#[derive(Debug, Clone, Default)]
pub struct PullStats {
    pub attempts: u32,
    pub first: i64,
    pub last: i64,
    pub last_status: Option<u16>,
    pub succeeded_at: Option<i64>,
    pub interaction: Option<Interaction>,
    /// Every attempt's time, for the cancellation check.
    pub times: Vec<i64>,
}

/// Where a BSN was seen for a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BsnRoute {
    Task,
    WorkflowTask,
    Assertion,
}

impl BsnRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            BsnRoute::Task => "task",
            BsnRoute::WorkflowTask => "workflow-task",
            BsnRoute::Assertion => "assertion",
        }
    }
}

/// A notification with everything known about it (materialised from the compact model).
#[derive(Debug, Clone, Default)]
pub struct Notification {
    pub id: String,
    /// The first sent-log body, else the first received-log body.
    pub task: Task,
    pub task_side: Option<Side>,
    /// Sent-log notifies: how many, the last one's answer, whether any got a 2xx.
    pub sent_count: usize,
    pub sent_last_status: Option<u16>,
    pub sent_success: bool,
    /// Received-log notifies (refused ones included): how many, the first two times.
    pub received_count: usize,
    pub received_first: Option<i64>,
    pub received_second: Option<i64>,
    /// The sender's earliest cancel; whether the receiver logged an accepted cancel.
    pub cancel_sent_at: Option<i64>,
    pub cancel_received: bool,
    /// Send time (earliest sent notify; for a receiver-only notification, its first receipt).
    pub send_time: i64,
    /// The first accepted receipt.
    pub receipt: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub group_key: String,
    pub group_size: usize,
    pub group_position: usize,
    pub current: bool,
    pub first_in_group: bool,
    pub sender_base: Option<String>,
    /// Problems of any notify Task body logged for it (either log).
    pub malformations: Vec<&'static str>,
    pub malformed_origin: Option<Origin>,
    pub nonstandard_code_system: Option<String>,
    /// BSNs by route, as seen (never written).
    pub bsns: Vec<(BsnRoute, String)>,
    /// The assertion carried a BSN whose value the sender did not log.
    pub assertion_flag: bool,
    pub workflow: Option<Task>,
    pub expected: Vec<ExpectedRequest>,
    pub pulls: BTreeMap<String, PullStats>,
}

impl Notification {
    pub fn expired(&self, as_of: i64) -> bool {
        self.task.expires.is_some_and(|e| e < as_of)
    }

    pub fn delivered(&self) -> bool {
        self.receipt.is_some()
    }

    pub fn in_sent_log(&self) -> bool {
        self.sent_count > 0
    }

    /// Current, not cancelled and not expired: the only notifications that may be replayed.
    pub fn replayable(&self, as_of: i64) -> bool {
        self.current && self.cancelled_at.is_none() && !self.expired(as_of)
    }

    pub fn workflow_active(&self) -> bool {
        self.workflow.as_ref().is_none_or(Task::workflow_active)
    }

    pub fn succeeded(&self, request: &str) -> bool {
        self.pulls
            .get(request)
            .is_some_and(|p| p.succeeded_at.is_some())
    }
}

// ---- the compact model ----

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

// ---- the public façade ----

/// The notifications of a run. `notifications[i]` and `iter()` build the full `Notification` on
/// first use (and keep it); `len()` is free.
#[derive(Debug, Default)]
pub struct Notifications {
    core: Arc<Core>,
    cache: OnceLock<Vec<OnceLock<Box<Notification>>>>,
}

impl Notifications {
    pub fn len(&self) -> usize {
        self.core.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.core.order.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&Notification> {
        if i >= self.len() {
            return None;
        }
        let cache = self
            .cache
            .get_or_init(|| (0..self.len()).map(|_| OnceLock::new()).collect());
        Some(cache[i].get_or_init(|| Box::new(self.core.materialise(self.core.order[i]))))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Notification> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}

impl std::ops::Index<usize> for Notifications {
    type Output = Notification;
    fn index(&self, i: usize) -> &Notification {
        match self.get(i) {
            Some(n) => n,
            None => panic!("notification index {i} out of range ({})", self.len()),
        }
    }
}

impl<'a> IntoIterator for &'a Notifications {
    type Item = &'a Notification;
    type IntoIter = Box<dyn Iterator<Item = &'a Notification> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Notification key (`system|value`) → position in `Model::notifications`.
#[derive(Debug, Default)]
pub struct NotificationIndex {
    core: Arc<Core>,
}

impl NotificationIndex {
    pub fn get(&self, id: &str) -> Option<&usize> {
        self.core.position(id)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.core.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.core.order.is_empty()
    }
}

/// A notify Task without identifier: it cannot be matched, only reported.
#[derive(Debug, Clone)]
pub struct Unkeyed {
    pub origin: Origin,
    pub side: Side,
    pub task: Task,
}

/// A cancel naming an identifier that no notify carries (or none at all).
#[derive(Debug, Clone)]
pub struct StrayCancel {
    pub notification: Option<String>,
    pub attempt: Attempt,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

/// Pulls of a notification that neither log notified.
#[derive(Debug, Clone)]
pub struct StrayPull {
    pub notification: String,
    pub request: String,
    pub attempt: Attempt,
}

/// A pushed message: what the two logs say about it.
#[derive(Debug, Clone, Default)]
pub struct Push {
    pub message: String,
    pub sent_count: usize,
    pub sent_first: Option<i64>,
    pub sent_last_status: Option<u16>,
    pub received_count: usize,
    pub received_first: Option<i64>,
    pub processed_first: Option<i64>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

#[derive(Debug, Default)]
pub struct Model {
    pub notifications: Notifications,
    pub index: NotificationIndex,
    pub unkeyed: Vec<Unkeyed>,
    pub stray_cancels: Vec<StrayCancel>,
    pub stray_pulls: Vec<StrayPull>,
    pub pushes: Vec<Push>,
    /// Organisations the sent log speaks for (notify senders and push senders).
    pub covered: HashSet<String>,
    /// Pull events found in the sent log (read, not used).
    pub sent_log_pulls: u64,
    pub(crate) core: Arc<Core>,
}

impl Model {
    pub fn get(&self, id: &str) -> Option<&Notification> {
        self.index.get(id).and_then(|&i| self.notifications.get(i))
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    pub(crate) fn from_core(core: Core) -> (Arc<Core>, Notifications, NotificationIndex) {
        let core = Arc::new(core);
        (
            core.clone(),
            Notifications {
                core: core.clone(),
                cache: OnceLock::new(),
            },
            NotificationIndex { core },
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        eprintln!(
            "Slot {} TaskInfo {} PullAgg {} Exp {}",
            std::mem::size_of::<super::Slot>(),
            std::mem::size_of::<super::TaskInfo>(),
            std::mem::size_of::<super::PullAgg>(),
            std::mem::size_of::<super::Exp>()
        );
    }
}
