//! BSN handling: a current notification without a BSN by any route, a BSN that fails the
//! elfproef, and routes that disagree. Details name routes, never values.

use super::{Finding, Rule, Severity};
use crate::bsn::is_valid;
use crate::model::{Model, Params};

pub struct BsnUnavailable;
impl Rule for BsnUnavailable {
    fn category(&self) -> &'static str {
        "bsn-unavailable"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if n.current && n.cancelled_at.is_none() && n.bsns.is_empty() && !n.assertion_flag {
                let wf = if n.task.get_workflow_task == Some(true) && n.workflow.is_none() {
                    " (the Workflow Task body is not known yet)"
                } else {
                    ""
                };
                out.push(self.about(n, format!(
                    "no BSN in the Notification Task, the Workflow Task or the token assertion{wf}"
                )));
            }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            let mut routes: Vec<&str> = n
                .bsns
                .iter()
                .filter(|(_, b)| !is_valid(b))
                .map(|(r, _)| r.as_str())
                .collect();
            routes.dedup();
            if !routes.is_empty() {
                out.push(self.about(
                    n,
                    format!(
                        "the BSN by route {} is not 9 digits or fails the elfproef",
                        routes.join(", ")
                    ),
                ));
            }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            let mut values: Vec<&str> = n.bsns.iter().map(|(_, b)| b.trim()).collect();
            values.sort_unstable();
            values.dedup();
            if values.len() > 1 {
                let mut routes: Vec<&str> = n.bsns.iter().map(|(r, _)| r.as_str()).collect();
                routes.sort_unstable();
                routes.dedup();
                out.push(self.about(
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
}
