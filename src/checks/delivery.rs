//! Delivery of Notification Tasks: sent but not received (`notification-undelivered`,
//! `notification-lost`, `update-missed`), received but not sent (`notification-unknown-to-sender`),
//! and received more than once (`notification-duplicate`).

use super::{Finding, Rule, Severity, about, at};
use crate::model::{Core, Model, Params, Slot};

/// Sent, judged (older than `as_of − grace`) and never accepted by the receiver.
fn not_delivered(n: &Slot, p: &Params) -> bool {
    n.in_sent_log() && !n.delivered() && p.judged(n.send_time())
}

fn delivery_finding(
    rule: &dyn Rule,
    c: &Core,
    i: u32,
    n: &Slot,
    p: &Params,
    what: &str,
) -> Finding {
    let mut f = about(
        rule,
        c,
        i,
        n,
        format!(
            "{what}; sent {} time(s) from {}, last answer {}; the receiver logged {}",
            n.sent_count,
            at(n.send_time()),
            crate::model::unst(n.sent_last_status).map_or("none".into(), |s| s.to_string()),
            if n.recv_count == 0 {
                "no notify".to_owned()
            } else {
                format!("{} refused notify(s)", n.recv_count)
            }
        ),
    );
    f.replayable = n.replayable(p.as_of);
    if !f.replayable {
        f.detail.push_str(&not_replayable_reason(n, p));
    }
    f
}

pub(super) fn not_replayable_reason(n: &Slot, p: &Params) -> String {
    if n.cancelled() {
        "; not replayable: cancelled".into()
    } else if n.expired(p.as_of) {
        "; not replayable: expired".into()
    } else if !n.current {
        "; not replayable: superseded by a newer notification of its group".into()
    } else {
        String::new()
    }
}

pub struct NotificationUndelivered;
impl Rule for NotificationUndelivered {
    fn category(&self) -> &'static str {
        "notification-undelivered"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        if not_delivered(n, p) && n.first_in_group && !n.sent_2xx {
            out.push(delivery_finding(
                self,
                c,
                i,
                n,
                p,
                "the sender's notify got no 2xx",
            ));
        }
    }
}

pub struct NotificationLost;
impl Rule for NotificationLost {
    fn category(&self) -> &'static str {
        "notification-lost"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        if not_delivered(n, p) && n.first_in_group && n.sent_2xx {
            out.push(delivery_finding(
                self,
                c,
                i,
                n,
                p,
                "the sender's notify got a 2xx",
            ));
        }
    }
}

pub struct UpdateMissed;
impl Rule for UpdateMissed {
    fn category(&self) -> &'static str {
        "update-missed"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        if not_delivered(n, p) && !n.first_in_group {
            let what = format!(
                "update {} of {} in its group; the sender's notify got {}",
                n.group_position + 1,
                n.group_size,
                if n.sent_2xx { "a 2xx" } else { "no 2xx" }
            );
            out.push(delivery_finding(self, c, i, n, p, &what));
        }
    }
}

pub struct NotificationUnknownToSender;
impl Rule for NotificationUnknownToSender {
    fn category(&self) -> &'static str {
        "notification-unknown-to-sender"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn notification(
        &self,
        m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        _: &Params,
        out: &mut Vec<Finding>,
    ) {
        if n.in_sent_log() || n.recv_count == 0 {
            return;
        }
        let covered = n
            .task
            .sender_org
            .opt()
            .is_some_and(|o| m.covered.contains(c.s(o).as_ref()));
        if covered {
            out.push(about(self, c, i, n, format!(
                "received at {}, but the sent log, which covers this sender, has no such notify",
                at(n.send_time())
            )));
        }
    }
}

pub struct NotificationDuplicate;
impl Rule for NotificationDuplicate {
    fn category(&self) -> &'static str {
        "notification-duplicate"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        _: &Params,
        out: &mut Vec<Finding>,
    ) {
        if n.recv_count > 1 {
            let mut f = about(
                self,
                c,
                i,
                n,
                format!(
                    "the receiver logged {} notifies with this identifier, the first at {}",
                    n.recv_count,
                    at(n.recv_first.get().unwrap_or_default())
                ),
            );
            f.since = c.recv_second.get(&i).copied();
            out.push(f);
        }
    }
}
