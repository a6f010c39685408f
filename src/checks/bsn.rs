//! BSN handling: a current notification without a BSN by any route, a BSN that fails the
//! elfproef, and routes that disagree. Details name routes, never values.

use super::{Finding, Rule, Severity, about};
use crate::bsn::is_valid;
use crate::model::{Core, Model, Params, Slot};

pub struct BsnUnavailable;
impl Rule for BsnUnavailable {
    fn category(&self) -> &'static str {
        "bsn-unavailable"
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
        if n.current && !n.cancelled() && n.bsns.1 == 0 && !n.assertion_flag {
            let wf = if n.task.get_workflow_task == Some(true) && c.workflow(n).is_none() {
                " (the Workflow Task body is not known yet)"
            } else {
                ""
            };
            out.push(about(
                self,
                c,
                i,
                n,
                format!(
                    "no BSN in the Notification Task, the Workflow Task or the token assertion{wf}"
                ),
            ));
        }
    }
}

pub struct BsnInvalid;
impl Rule for BsnInvalid {
    fn category(&self) -> &'static str {
        "bsn-invalid"
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
        let mut routes: Vec<&str> = c
            .bsns_of(n)
            .iter()
            .filter(|(_, b)| !is_valid(&c.s(*b)))
            .map(|(r, _)| r.as_str())
            .collect();
        routes.dedup();
        if !routes.is_empty() {
            out.push(about(
                self,
                c,
                i,
                n,
                format!(
                    "the BSN by route {} is not 9 digits or fails the elfproef",
                    routes.join(", ")
                ),
            ));
        }
    }
}

pub struct BsnMismatch;
impl Rule for BsnMismatch {
    fn category(&self) -> &'static str {
        "bsn-mismatch"
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
        let bsns = c.bsns_of(n);
        if bsns.len() < 2 {
            return;
        }
        let texts: Vec<_> = bsns.iter().map(|(_, b)| c.s(*b)).collect();
        let mut values: Vec<&str> = texts.iter().map(|b| b.trim()).collect();
        values.sort_unstable();
        values.dedup();
        if values.len() > 1 {
            let mut routes: Vec<&str> = bsns.iter().map(|(r, _)| r.as_str()).collect();
            routes.sort_unstable();
            routes.dedup();
            out.push(about(
                self,
                c,
                i,
                n,
                format!(
                    "{} different BSNs across routes {}",
                    values.len(),
                    routes.join(", ")
                ),
            ));
        }
    }
}
