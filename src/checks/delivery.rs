//! Delivery of Notification Tasks: sent but not received (`notification-undelivered`,
//! `notification-lost`, `update-missed`), received but not sent (`notification-unknown-to-sender`),
//! and received more than once (`notification-duplicate`).

use super::{Finding, Rule, Severity, at};
use crate::model::{Model, Notification, Params};

/// Sent, judged (older than `as_of − grace`) and never accepted by the receiver.
fn not_delivered(n: &Notification, p: &Params) -> bool {
    n.in_sent_log() && !n.delivered() && p.judged(n.send_time)
}

fn sender_got_2xx(n: &Notification) -> bool {
    n.sent.iter().any(|a| a.success())
}

fn delivery_finding(rule: &dyn Rule, n: &Notification, p: &Params, what: &str) -> Finding {
    let mut f = rule.about(
        n,
        format!(
            "{what}; sent {} time(s) from {}, last answer {}; the receiver logged {}",
            n.sent.len(),
            at(n.send_time),
            n.sent
                .last()
                .and_then(|a| a.status)
                .map_or("none".into(), |s| s.to_string()),
            if n.received.is_empty() {
                "no notify".to_owned()
            } else {
                format!("{} refused notify(s)", n.received.len())
            }
        ),
    );
    f.replayable = n.replayable(p.as_of);
    if !f.replayable {
        f.detail.push_str(&not_replayable_reason(n, p));
    }
    f
}

pub(super) fn not_replayable_reason(n: &Notification, p: &Params) -> String {
    if n.cancelled_at.is_some() {
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
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if not_delivered(n, p) && n.first_in_group && !sender_got_2xx(n) {
                out.push(delivery_finding(
                    self,
                    n,
                    p,
                    "the sender's notify got no 2xx",
                ));
            }
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
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if not_delivered(n, p) && n.first_in_group && sender_got_2xx(n) {
                out.push(delivery_finding(
                    self,
                    n,
                    p,
                    "the sender's notify got a 2xx",
                ));
            }
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
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if not_delivered(n, p) && !n.first_in_group {
                let what = format!(
                    "update {} of {} in its group; the sender's notify got {}",
                    n.group_position + 1,
                    n.group_size,
                    if sender_got_2xx(n) { "a 2xx" } else { "no 2xx" }
                );
                out.push(delivery_finding(self, n, p, &what));
            }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            let covered = n
                .task
                .sender_org
                .as_ref()
                .is_some_and(|o| m.covered.contains(o));
            if !n.in_sent_log() && !n.received.is_empty() && covered {
                out.push(self.about(n, format!(
                    "received at {}, but the sent log, which covers this sender, has no such notify",
                    at(n.send_time)
                )));
            }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if n.received.len() > 1 {
                let mut f = self.about(
                    n,
                    format!(
                        "the receiver logged {} notifies with this identifier, the first at {}",
                        n.received.len(),
                        at(n.received[0].ts)
                    ),
                );
                f.since = Some(n.received[1].ts);
                out.push(f);
            }
        }
    }
}
