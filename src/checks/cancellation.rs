//! Cancellations (Twiin-02): not delivered to the receiver, naming nothing that was notified, and
//! data pulled after the cancellation.

use super::{Finding, Rule, Severity, about, at};
use crate::model::{Core, Model, Params, Slot, unst};

pub struct CancellationUndelivered;
impl Rule for CancellationUndelivered {
    fn category(&self) -> &'static str {
        "cancellation-undelivered"
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
        let Some(&(sent, received)) = c.cancels.get(&i) else {
            return;
        };
        if let Some(ts) = sent.get()
            && !received
            && p.judged(ts)
        {
            let mut f = about(
                self,
                c,
                i,
                n,
                format!(
                    "the sender cancelled at {}; the receiver logged no accepted cancel",
                    at(ts)
                ),
            );
            f.since = Some(ts);
            out.push(f);
        }
    }
}

pub struct CancellationUnmatched;
impl Rule for CancellationUnmatched {
    fn category(&self) -> &'static str {
        "cancellation-unmatched"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn rest(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for c in &m.stray_cancels {
            let mut f = self.bare(match &c.notification {
                Some(_) => format!(
                    "a cancel in the {} log at {} names an identifier that neither log notified",
                    c.attempt.side.as_str(),
                    at(c.attempt.ts)
                ),
                None => format!(
                    "a cancel in the {} log at {} carries no identifier",
                    c.attempt.side.as_str(),
                    at(c.attempt.ts)
                ),
            });
            f.notification = c.notification.clone();
            f.sender = c.sender.clone();
            f.receiver = c.receiver.clone();
            f.since = Some(c.attempt.ts);
            if c.notification.is_none() {
                f.subject_extra = Some(format!(
                    "{}:{}:{}",
                    c.attempt.side.as_str(),
                    c.attempt.origin.file,
                    c.attempt.origin.line
                ));
            }
            out.push(f);
        }
    }
}

pub struct PulledAfterCancellation;
impl Rule for PulledAfterCancellation {
    fn category(&self) -> &'static str {
        "pulled-after-cancellation"
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
        _: &Params,
        out: &mut Vec<Finding>,
    ) {
        let Some(cancelled) = n.cancelled_at.get() else {
            return;
        };
        for s in c.pulls_of(n) {
            if s.last <= cancelled {
                continue;
            }
            let after: Vec<i64> = c.times(&s).into_iter().filter(|t| *t > cancelled).collect();
            if let Some(first) = after.first() {
                let mut f = about(
                    self,
                    c,
                    i,
                    n,
                    format!(
                        "{} pull(s) after the cancellation at {}, the first at {}; last answer {}",
                        after.len(),
                        at(cancelled),
                        at(*first),
                        unst(s.last_status).map_or("none".into(), |v| v.to_string())
                    ),
                );
                f.request = Some(c.s(s.request).into_owned());
                f.request_kind = Some(s.interaction.as_str());
                f.since = Some(*first);
                out.push(f);
            }
        }
    }
}
