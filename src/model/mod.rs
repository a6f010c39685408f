//! The model: what both logs together say about each notification (its Task, sends, receipts,
//! cancellations, group position, expected requests and the pulls done for them) and about each
//! pushed message.
//!
//! It is built by folding compact events as they are read (`Builder`, in `build.rs`), in file
//! order, into per-notification aggregates with interned texts; no event is kept. `Builder::finish`
//! then matches cancellations, orders groups, normalises requests and matches them with pulls. The
//! checks and tables read the compact form (`Core`, `Slot`, in `compact.rs`);
//! `model.notifications[i]` and `model.index` hand out the full public `Notification`, built on
//! first use, for replay and tests.

mod build;
pub(crate) mod canon;
mod compact;
mod finish_slot;

pub use build::{Builder, shard_of};
pub(crate) use compact::*;

use crate::fhir::task::{RequestKind, Task};
use crate::ingest::{Interaction, Origin, Side};
use std::collections::{BTreeMap, HashSet};
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
    // Out of range is a caller's bug, as with a slice (the pipeline itself uses `get`).
    #[allow(clippy::panic)]
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

    /// A notification materialised for one use and not kept: `get` keeps what it materialises
    /// (the tables and checks read each notification more than once); the replay's plan reads a
    /// few of them once each.
    pub fn get_once(&self, id: &str) -> Option<Notification> {
        let &i = self.index.get(id)?;
        Some(self.core.materialise(*self.core.order.get(i)?))
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
            std::mem::size_of::<crate::ingest::task::TaskInfo>(),
            std::mem::size_of::<super::PullAgg>(),
            std::mem::size_of::<super::Exp>()
        );
    }
}
