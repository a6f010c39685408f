//! Expected requests of current, uncancelled notifications that did not succeed: attempted and
//! failed (`pull-failed`), never attempted after delivery (`pull-missing`), or too late because
//! `restriction.period.end` has passed (`pull-expired`).

use super::{Finding, Rule, Severity, at};
use crate::model::{ExpectedRequest, Model, Notification, Params, PullStats, RequestSource};

/// The expected requests of a current, uncancelled notification that never answered 2xx,
/// with their pull statistics if attempted.
fn outstanding<'a>(
    n: &'a Notification,
) -> impl Iterator<Item = (&'a ExpectedRequest, Option<&'a PullStats>)> + 'a {
    let eligible = n.current && n.cancelled_at.is_none();
    n.expected
        .iter()
        .filter(move |_| eligible)
        .filter(move |r| !n.succeeded(&r.request))
        .map(move |r| (r, n.pulls.get(&r.request)))
}

fn request_finding(
    rule: &dyn Rule,
    n: &Notification,
    r: &ExpectedRequest,
    detail: String,
    replayable: bool,
) -> Finding {
    let mut f = rule.about(n, detail);
    f.request = Some(r.request.clone());
    f.request_kind = Some(r.kind.as_str());
    f.request_source = Some(r.source.as_str());
    f.replayable = replayable;
    if r.source == RequestSource::WorkflowTask && !n.workflow_active() {
        f.replayable = false;
        f.detail
            .push_str("; not replayable: the Workflow Task is no longer active");
    }
    f
}

pub struct PullFailed;
impl Rule for PullFailed {
    fn category(&self) -> &'static str {
        "pull-failed"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if n.expired(p.as_of) {
                continue;
            }
            for (r, stats) in outstanding(n) {
                let Some(s) = stats else { continue };
                let detail = format!(
                    "{} attempt(s) from {} to {}, last answer {}",
                    s.attempts,
                    at(s.first),
                    at(s.last),
                    s.last_status
                        .map_or("none (no answer)".into(), |v| v.to_string())
                );
                let mut f = request_finding(self, n, r, detail, n.replayable(p.as_of));
                f.since = Some(s.first);
                out.push(f);
            }
        }
    }
}

pub struct PullMissing;
impl Rule for PullMissing {
    fn category(&self) -> &'static str {
        "pull-missing"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            let Some(receipt) = n.receipt else { continue };
            if n.expired(p.as_of) || !p.judged(receipt) {
                continue;
            }
            for (r, stats) in outstanding(n) {
                if stats.is_none() {
                    let detail = format!("delivered at {}, never attempted", at(receipt));
                    let mut f = request_finding(self, n, r, detail, n.replayable(p.as_of));
                    f.since = Some(receipt);
                    out.push(f);
                }
            }
        }
    }
}

pub struct PullExpired;
impl Rule for PullExpired {
    fn category(&self) -> &'static str {
        "pull-expired"
    }
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    fn check(&self, m: &Model, p: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            let Some(end) = n.task.expires.filter(|_| n.expired(p.as_of)) else {
                continue;
            };
            for (r, stats) in outstanding(n) {
                if stats.is_none() && !n.delivered() {
                    continue;
                }
                let tried = stats.map_or("never attempted".to_owned(), |s| {
                    format!("{} failed attempt(s)", s.attempts)
                });
                let mut f = request_finding(
                    self,
                    n,
                    r,
                    format!("may be pulled until {}; {tried}", at(end)),
                    false,
                );
                f.since = Some(end);
                out.push(f);
            }
        }
    }
}
