//! Checks: one small named rule per finding category. A rule reads the model (its compact form)
//! and emits findings; `RULES` is the one list of them (add a category = add a rule struct and
//! list it here). Severity is the rule's own; each (category, subject, request) is reported once
//! per run. Rules run in parallel; their findings are listed in `RULES` order.

mod bsn;
mod cancellation;
mod delivery;
mod pulls;
mod push;
mod task;

use crate::model::{Core, Model, Params, Slot};
use rayon::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub category: &'static str,
    pub severity: Severity,
    pub notification: Option<String>,
    pub message: Option<String>,
    pub group: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// Normalised request text (redacted only when written).
    pub request: Option<String>,
    pub replayable: bool,
    pub detail: String,
    /// When the problem began (send, cancel, receipt, first attempt), UTC microseconds.
    pub since: Option<i64>,
    /// `read`, `search`, `get-workflow-task` for request findings.
    pub request_kind: Option<&'static str>,
    /// `notification-task`, `workflow-task-reference` or `workflow-task`.
    pub request_source: Option<&'static str>,
    pub sender_base: Option<String>,
    pub expires: Option<i64>,
    /// Tells apart findings about Tasks without identifier (their file and line).
    pub subject_extra: Option<String>,
    /// The notification's slot in the model, when the finding is about one.
    pub(crate) slot: Option<u32>,
}

/// A rule: one finding category with its fixed severity.
pub(crate) trait Rule: Sync {
    fn category(&self) -> &'static str;
    fn severity(&self) -> Severity;
    /// The findings of this rule about one notification (slot `i` of the model).
    fn notification(
        &self,
        _model: &Model,
        _c: &Core,
        _i: u32,
        _n: &Slot,
        _params: &Params,
        _out: &mut Vec<Finding>,
    ) {
    }

    /// The findings of this rule about anything else (pushes, Tasks without identifier, cancels
    /// naming nothing known), after those about notifications.
    fn rest(&self, _model: &Model, _params: &Params, _out: &mut Vec<Finding>) {}

    /// A finding of this rule about something that is not a known notification.
    fn bare(&self, detail: String) -> Finding {
        Finding {
            category: self.category(),
            severity: self.severity(),
            notification: None,
            message: None,
            group: None,
            sender: None,
            receiver: None,
            request: None,
            replayable: false,
            detail,
            since: None,
            request_kind: None,
            request_source: None,
            sender_base: None,
            expires: None,
            subject_extra: None,
            slot: None,
        }
    }
}

/// A finding of this rule about a notification, with the notification's fields filled in.
pub(crate) fn about(
    rule: &(impl Rule + ?Sized),
    c: &Core,
    i: u32,
    n: &Slot,
    detail: String,
) -> Finding {
    Finding {
        category: rule.category(),
        severity: rule.severity(),
        notification: Some(c.s(n.id).into_owned()),
        message: None,
        group: c.opt(n.task.group),
        sender: c.opt(n.task.sender_org),
        receiver: c.opt(n.task.receiver_org),
        request: None,
        replayable: false,
        detail,
        since: Some(n.send_time()),
        request_kind: None,
        request_source: None,
        sender_base: c.opt(n.base),
        expires: n.task.expires.get(),
        subject_extra: None,
        slot: Some(i),
    }
}

/// Every rule, in the order their findings are listed.
pub(crate) static RULES: &[&dyn Rule] = &[
    &delivery::NotificationUndelivered,
    &delivery::NotificationLost,
    &delivery::UpdateMissed,
    &delivery::NotificationUnknownToSender,
    &delivery::NotificationDuplicate,
    &task::NotificationMalformed,
    &task::TaskCodeSystemNonstandard,
    &task::WorkflowTaskReferenceMissing,
    &cancellation::CancellationUndelivered,
    &cancellation::CancellationUnmatched,
    &cancellation::PulledAfterCancellation,
    &pulls::PullFailed,
    &pulls::PullMissing,
    &pulls::PullExpired,
    &bsn::BsnUnavailable,
    &bsn::BsnInvalid,
    &bsn::BsnMismatch,
    &push::PushUndelivered,
    &push::PushUnprocessed,
    &push::PushUnknownToSender,
];

/// The category names and severities, for the summary and the tables.
pub fn categories() -> Vec<(&'static str, Severity)> {
    RULES.iter().map(|r| (r.category(), r.severity())).collect()
}

/// Runs every rule; findings come sorted and without repeats.
pub fn run(model: &Model, params: &Params) -> Vec<Finding> {
    // One pass over the notifications (in parallel parts), every rule on each: the model is read
    // once, not once per rule.
    let c = model.core();
    let parts: Vec<Vec<Vec<Finding>>> = c
        .order
        .par_chunks(4096)
        .map(|ids| {
            let mut per_rule: Vec<Vec<Finding>> = RULES.iter().map(|_| Vec::new()).collect();
            for &i in ids {
                let n = &c.slots[i as usize];
                for (rule, out) in RULES.iter().zip(per_rule.iter_mut()) {
                    rule.notification(model, c, i, n, params, out);
                }
            }
            per_rule
        })
        .collect();
    let mut per_rule: Vec<Vec<Finding>> = RULES.iter().map(|_| Vec::new()).collect();
    for part in parts {
        for (all, found) in per_rule.iter_mut().zip(part) {
            all.extend(found);
        }
    }
    let mut out: Vec<Finding> = Vec::new();
    for (rule, found) in RULES.iter().zip(per_rule) {
        out.extend(found);
        rule.rest(model, params, &mut out);
    }
    let mut seen = HashSet::new();
    out.retain(|f| {
        seen.insert((
            f.category,
            f.notification.clone(),
            f.message.clone(),
            f.request.clone(),
            f.subject_extra.clone(),
        ))
    });
    let order = |c: &str| {
        RULES
            .iter()
            .position(|r| r.category() == c)
            .unwrap_or(usize::MAX)
    };
    out.par_sort_by(|a, b| {
        (
            order(a.category),
            &a.notification,
            &a.message,
            &a.request,
            &a.subject_extra,
        )
            .cmp(&(
                order(b.category),
                &b.notification,
                &b.message,
                &b.request,
                &b.subject_extra,
            ))
    });
    out
}

/// Formats a timestamp for a detail text.
pub(crate) fn at(ts: i64) -> String {
    crate::time::format_ts(ts)
}
