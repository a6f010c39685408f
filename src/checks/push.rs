//! Push (unsolicited communication): sent but never received, received but not processed within
//! the push SLA, and received from a covered sender that never sent it.

use super::{Finding, Rule, Severity, at};
use crate::model::{Model, Params, Push};

fn push_finding(rule: &dyn Rule, p: &Push, detail: String, since: i64) -> Finding {
    let mut f = rule.bare(detail);
    f.message = Some(p.message.clone());
    f.sender = p.sender.clone();
    f.receiver = p.receiver.clone();
    f.since = Some(since);
    f
}

pub struct PushUndelivered;
impl Rule for PushUndelivered {
    fn category(&self) -> &'static str {
        "push-undelivered"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn rest(&self, m: &Model, params: &Params, out: &mut Vec<Finding>) {
        for p in &m.pushes {
            let Some(first) = p.sent_first else {
                continue;
            };
            if p.received_count == 0 && params.judged(first) {
                let last = p.sent_last_status;
                out.push(push_finding(
                    self,
                    p,
                    format!(
                        "sent {} time(s) from {}, last answer {}; the receiver never logged it",
                        p.sent_count,
                        at(first),
                        last.map_or("none".into(), |s| s.to_string())
                    ),
                    first,
                ));
            }
        }
    }
}

pub struct PushUnprocessed;
impl Rule for PushUnprocessed {
    fn category(&self) -> &'static str {
        "push-unprocessed"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn rest(&self, m: &Model, params: &Params, out: &mut Vec<Finding>) {
        for p in &m.pushes {
            let Some(received) = p.received_first else {
                continue;
            };
            let deadline = received + params.push_sla;
            if params.as_of < deadline {
                continue;
            }
            let first_processed = p.processed_first;
            let detail = match first_processed {
                Some(t) if t <= deadline => continue,
                Some(t) => format!(
                    "received at {}, processed late at {} (SLA {})",
                    at(received),
                    at(t),
                    crate::time::format_duration(params.push_sla / 1_000_000)
                ),
                None => format!(
                    "received at {}, not processed within the SLA of {}",
                    at(received),
                    crate::time::format_duration(params.push_sla / 1_000_000)
                ),
            };
            out.push(push_finding(self, p, detail, deadline));
        }
    }
}

pub struct PushUnknownToSender;
impl Rule for PushUnknownToSender {
    fn category(&self) -> &'static str {
        "push-unknown-to-sender"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn rest(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for p in &m.pushes {
            let covered = p.sender.as_ref().is_some_and(|s| m.covered.contains(s));
            if let Some(first) = p.received_first
                && p.sent_count == 0
                && covered
            {
                out.push(push_finding(
                    self,
                    p,
                    format!(
                        "received at {}, but the sent log, which covers this sender, never sent it",
                        at(first)
                    ),
                    first,
                ));
            }
        }
    }
}
