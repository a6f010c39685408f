//! The model: what both logs together say about each notification (its Task, sends, receipts,
//! cancellations, group position, expected requests and the pulls done for them) and about each
//! pushed message. Built once from the ingested events; the checks only read it.

use crate::fhir::request::key as request_key;
use crate::fhir::task::{RequestKind, Task};
use crate::ingest::{Event, Interaction, Origin, Side};
use std::collections::{BTreeMap, HashMap, HashSet};

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
    fn of(e: &Event) -> Self {
        Attempt {
            ts: e.ts,
            status: e.status,
            side: e.side,
            origin: e.origin,
        }
    }

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

#[derive(Debug, Clone, Default)]
pub struct Notification {
    pub id: String,
    /// The first sent-log body, else the first received-log body.
    pub task: Task,
    pub task_side: Option<Side>,
    pub sent: Vec<Attempt>,
    pub received: Vec<Attempt>,
    pub cancels: Vec<Attempt>,
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
        !self.sent.is_empty()
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

#[derive(Debug, Clone, Default)]
pub struct Push {
    pub message: String,
    pub sent: Vec<Attempt>,
    pub received: Vec<Attempt>,
    pub processed: Vec<(i64, String)>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

#[derive(Debug, Default)]
pub struct Model {
    pub notifications: Vec<Notification>,
    pub index: HashMap<String, usize>,
    pub unkeyed: Vec<Unkeyed>,
    pub stray_cancels: Vec<StrayCancel>,
    pub stray_pulls: Vec<StrayPull>,
    pub pushes: Vec<Push>,
    /// Organisations the sent log speaks for (notify senders and push senders).
    pub covered: HashSet<String>,
    /// Pull events found in the sent log (read, not used).
    pub sent_log_pulls: u64,
}

impl Model {
    pub fn get(&self, id: &str) -> Option<&Notification> {
        self.index.get(id).map(|&i| &self.notifications[i])
    }
}

/// Builds the model. Events may come in any order.
pub fn build(mut events: Vec<Event>, params: &Params) -> Model {
    events.sort_by(|a, b| {
        (a.ts, a.side, a.origin.file, a.origin.line).cmp(&(
            b.ts,
            b.side,
            b.origin.file,
            b.origin.line,
        ))
    });
    let mut m = Model::default();
    let mut pulls: Vec<Event> = Vec::new();
    let mut cancels: Vec<Event> = Vec::new();
    let mut pushes: BTreeMap<String, Push> = BTreeMap::new();

    for e in events {
        match e.interaction {
            Interaction::Notify => add_notify(&mut m, e),
            Interaction::Cancel => cancels.push(e),
            i if i.is_pull() => {
                if e.side == Side::Received {
                    pulls.push(e);
                } else {
                    m.sent_log_pulls += 1;
                }
            }
            Interaction::Push | Interaction::PushProcessed => add_push(&mut m, &mut pushes, e),
            _ => {}
        }
    }
    m.pushes = pushes.into_values().collect();

    for e in cancels {
        let key = e.notification_key().map(str::to_owned);
        match key.as_ref().and_then(|k| m.index.get(k)) {
            Some(&i) => {
                let n = &mut m.notifications[i];
                n.cancels.push(Attempt::of(&e));
                n.cancelled_at = Some(n.cancelled_at.map_or(e.ts, |c| c.min(e.ts)));
            }
            None => {
                let t = e.task.as_deref();
                m.stray_cancels.push(StrayCancel {
                    notification: key,
                    attempt: Attempt::of(&e),
                    sender: t.and_then(|t| t.sender_org.clone()),
                    receiver: t.and_then(|t| t.receiver_org.clone()),
                })
            }
        }
    }

    for n in &mut m.notifications {
        finish_notification(n, params);
    }
    order_groups(&mut m);

    for e in pulls {
        add_pull(&mut m, e);
    }
    for n in &mut m.notifications {
        add_workflow_requests(n);
    }
    m
}

fn add_notify(m: &mut Model, e: Event) {
    let attempt = Attempt::of(&e);
    let Some(task) = e.task else { return };
    if e.side == Side::Sent
        && let Some(org) = &task.sender_org
        && !m.covered.contains(org)
    {
        m.covered.insert(org.clone());
    }
    let Some(id) = task.identifier.clone() else {
        m.unkeyed.push(Unkeyed {
            origin: e.origin,
            side: e.side,
            task: *task,
        });
        return;
    };
    let i = *m.index.entry(id.clone()).or_insert_with(|| {
        m.notifications.push(Notification {
            id,
            ..Notification::default()
        });
        m.notifications.len() - 1
    });
    let n = &mut m.notifications[i];
    let problems = task.malformations();
    for p in &problems {
        if !n.malformations.contains(p) {
            n.malformations.push(p);
        }
    }
    if !problems.is_empty() && n.malformed_origin.is_none() {
        n.malformed_origin = Some(e.origin);
    }
    if n.nonstandard_code_system.is_none() {
        n.nonstandard_code_system = task.nonstandard_code_system().map(str::to_owned);
    }
    if let Some(bsn) = &task.patient_bsn
        && !n.bsns.iter().any(|(r, b)| *r == BsnRoute::Task && b == bsn)
    {
        n.bsns.push((BsnRoute::Task, bsn.clone()));
    }
    match e.side {
        Side::Sent => {
            n.sent.push(attempt);
            if let Some(b) = e.assertion_bsn
                && !n
                    .bsns
                    .iter()
                    .any(|(r, v)| *r == BsnRoute::Assertion && *v == b)
            {
                n.bsns.push((BsnRoute::Assertion, b));
            }
            if e.bsn_in_assertion == Some(true) {
                n.assertion_flag = true;
            }
        }
        Side::Received => n.received.push(attempt),
    }
    if n.sender_base.is_none() {
        n.sender_base = e.sender_base;
    }
    let better = match n.task_side {
        None => true,
        Some(Side::Received) => e.side == Side::Sent,
        Some(Side::Sent) => false,
    };
    if better {
        n.task = *task;
        n.task_side = Some(e.side);
    }
}

fn add_push(m: &mut Model, pushes: &mut BTreeMap<String, Push>, e: Event) {
    let Some(message) = e.message.clone() else {
        return;
    };
    let p = pushes.entry(message.clone()).or_insert_with(|| Push {
        message,
        ..Push::default()
    });
    match (e.interaction, e.side) {
        (Interaction::PushProcessed, _) => {
            p.processed
                .push((e.ts, e.outcome.clone().unwrap_or_default()));
        }
        (_, Side::Sent) => {
            p.sent.push(Attempt::of(&e));
            if let Some(s) = &e.sender {
                m.covered.insert(s.clone());
            }
        }
        (_, Side::Received) => p.received.push(Attempt::of(&e)),
    }
    if p.sender.is_none() {
        p.sender = e.sender;
    }
    if p.receiver.is_none() {
        p.receiver = e.receiver;
    }
}

fn finish_notification(n: &mut Notification, params: &Params) {
    n.receipt = n
        .received
        .iter()
        .filter(|a| a.accepted())
        .map(|a| a.ts)
        .min();
    n.send_time = n
        .sent
        .iter()
        .map(|a| a.ts)
        .min()
        .or_else(|| n.received.iter().map(|a| a.ts).min())
        .unwrap_or(0);
    if n.sender_base.is_none() {
        n.sender_base = n
            .task
            .sender_org
            .as_ref()
            .and_then(|o| params.senders.get(o).cloned());
    }
    let base = n.sender_base.clone();
    let mut seen = HashSet::new();
    for r in &n.task.requests {
        let request = request_key(&r.raw, base.as_deref());
        if seen.insert(request.clone()) {
            n.expected.push(ExpectedRequest {
                request,
                kind: r.kind.clone(),
                source: RequestSource::NotificationTask,
                code: r.code.clone(),
            });
        }
    }
    if n.task.get_workflow_task == Some(true)
        && let Some(id) = &n.task.based_on
    {
        let request = request_key(&format!("Task/{id}"), None);
        if seen.insert(request.clone()) {
            n.expected.push(ExpectedRequest {
                request,
                kind: RequestKind::WorkflowTask,
                source: RequestSource::WorkflowTaskRef,
                code: Some("get-workflow-task".into()),
            });
        }
    }
    n.group_key = n.task.group.clone().unwrap_or_else(|| n.id.clone());
}

fn order_groups(m: &mut Model) {
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in m.notifications.iter().enumerate() {
        groups.entry(n.group_key.as_str()).or_default().push(i);
    }
    let mut updates = Vec::with_capacity(m.notifications.len());
    for members in groups.values() {
        let mut members = members.clone();
        members.sort_by(|&a, &b| {
            let (na, nb) = (&m.notifications[a], &m.notifications[b]);
            (
                na.task.authored_on.unwrap_or(i64::MIN),
                na.send_time,
                &na.id,
            )
                .cmp(&(
                    nb.task.authored_on.unwrap_or(i64::MIN),
                    nb.send_time,
                    &nb.id,
                ))
        });
        let size = members.len();
        for (pos, i) in members.into_iter().enumerate() {
            updates.push((i, pos, size));
        }
    }
    for (i, pos, size) in updates {
        let n = &mut m.notifications[i];
        n.group_position = pos;
        n.group_size = size;
        n.first_in_group = pos == 0;
        n.current = pos + 1 == size;
    }
}

fn add_pull(m: &mut Model, e: Event) {
    let Some(id) = e.notification.as_deref() else {
        return;
    };
    let raw = e.request.as_deref().unwrap_or_default();
    let Some(&i) = m.index.get(id) else {
        m.stray_pulls.push(StrayPull {
            notification: id.to_owned(),
            request: request_key(raw, e.sender_base.as_deref()),
            attempt: Attempt::of(&e),
        });
        return;
    };
    let n = &mut m.notifications[i];
    let base = e.sender_base.as_deref().or(n.sender_base.as_deref());
    let request = request_key(raw, base);
    let s = n.pulls.entry(request).or_default();
    if s.attempts == 0 {
        s.first = e.ts;
    }
    s.attempts += 1;
    s.last = e.ts;
    s.last_status = e.status;
    s.interaction = Some(e.interaction);
    s.times.push(e.ts);
    if e.is_success() {
        s.succeeded_at.get_or_insert(e.ts);
        if e.interaction == Interaction::GetWorkflowTask
            && let Some(body) = e.body
            && n.workflow.is_none()
        {
            n.workflow = Some(*body);
        }
    }
}

fn add_workflow_requests(n: &mut Notification) {
    let Some(wf) = &n.workflow else { return };
    if let Some(bsn) = &wf.patient_bsn {
        n.bsns.push((BsnRoute::WorkflowTask, bsn.clone()));
    }
    let base = n.sender_base.clone();
    let mut seen: HashSet<String> = n.expected.iter().map(|r| r.request.clone()).collect();
    let mut extra = Vec::new();
    for r in &wf.requests {
        let request = request_key(&r.raw, base.as_deref());
        if seen.insert(request.clone()) {
            extra.push(ExpectedRequest {
                request,
                kind: r.kind.clone(),
                source: RequestSource::WorkflowTask,
                code: r.code.clone(),
            });
        }
    }
    n.expected.extend(extra);
}
