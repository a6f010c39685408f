//! Expected requests of current, uncancelled notifications that did not succeed: attempted and
//! failed (`pull-failed`), never attempted after delivery (`pull-missing`), or too late because
//! `restriction.period.end` has passed (`pull-expired`).

use super::{Finding, Rule, Severity, about, at};
use crate::model::{Core, Exp, Model, Params, PullView, RequestSource, Slot, unst};

/// The expected requests of a current, uncancelled notification that never answered 2xx,
/// with their pull statistics if attempted.
fn outstanding<'a>(
    c: &'a Core,
    n: &'a Slot,
) -> impl Iterator<Item = (&'a Exp, Option<PullView<'a>>)> + 'a {
    let eligible = n.current && !n.cancelled();
    c.exps(n)
        .iter()
        .filter(move |_| eligible)
        .filter(move |r| !c.succeeded(n, r.request))
        .map(move |r| (r, c.pull(n, r.request)))
}

fn request_finding(
    rule: &dyn Rule,
    c: &Core,
    i: u32,
    n: &Slot,
    r: &Exp,
    detail: String,
    replayable: bool,
) -> Finding {
    let mut f = about(rule, c, i, n, detail);
    f.request = Some(c.s(r.request).into_owned());
    f.request_kind = Some(r.kind.as_str());
    f.request_source = Some(r.source.as_str());
    f.replayable = replayable;
    if r.source == RequestSource::WorkflowTask && !c.workflow_active(n) {
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
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        if n.expired(p.as_of) {
            return;
        }
        for (r, stats) in outstanding(c, n) {
            let Some(s) = stats else { continue };
            let detail = format!(
                "{} attempt(s) from {} to {}, last answer {}",
                s.attempts,
                at(s.first),
                at(s.last),
                unst(s.last_status).map_or("none (no answer)".into(), |v| v.to_string())
            );
            let mut f = request_finding(self, c, i, n, r, detail, n.replayable(p.as_of));
            f.since = Some(s.first);
            out.push(f);
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
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        let Some(receipt) = n.receipt.get() else {
            return;
        };
        if n.expired(p.as_of) || !p.judged(receipt) {
            return;
        }
        for (r, stats) in outstanding(c, n) {
            if stats.is_none() {
                let detail = format!("delivered at {}, never attempted", at(receipt));
                let mut f = request_finding(self, c, i, n, r, detail, n.replayable(p.as_of));
                f.since = Some(receipt);
                out.push(f);
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
    fn notification(
        &self,
        _m: &Model,
        c: &Core,
        i: u32,
        n: &Slot,
        p: &Params,
        out: &mut Vec<Finding>,
    ) {
        let Some(end) = n.task.expires.get().filter(|_| n.expired(p.as_of)) else {
            return;
        };
        for (r, stats) in outstanding(c, n) {
            if stats.is_none() && !n.delivered() {
                continue;
            }
            let tried = stats.map_or("never attempted".to_owned(), |s| {
                format!("{} failed attempt(s)", s.attempts)
            });
            let mut f = request_finding(
                self,
                c,
                i,
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
