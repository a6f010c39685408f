//! The Notification Task itself: malformed Tasks, a non-standard code system for the
//! `pull-notification` code (reported, not rejected), and `get-workflow-task` without `basedOn`.

use super::{Finding, Rule, Severity, about};
use crate::model::{Core, Model, Params, Slot};

pub struct NotificationMalformed;
impl Rule for NotificationMalformed {
    fn category(&self) -> &'static str {
        "notification-malformed"
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
        let problems = c.malformations(i);
        if !problems.is_empty() {
            out.push(about(self, c, i, n, problems.join("; ")));
        }
    }
    fn rest(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for u in &m.unkeyed {
            let mut f = self.bare(format!(
                "{} (notify in the {} log, file #{} line {})",
                u.task.malformations().join("; "),
                u.side.as_str(),
                u.origin.file,
                u.origin.line
            ));
            f.group = u.task.group.clone();
            f.sender = u.task.sender_org.clone();
            f.receiver = u.task.receiver_org.clone();
            f.subject_extra = Some(format!(
                "{}:{}:{}",
                u.side.as_str(),
                u.origin.file,
                u.origin.line
            ));
            out.push(f);
        }
    }
}

pub struct TaskCodeSystemNonstandard;
impl Rule for TaskCodeSystemNonstandard {
    fn category(&self) -> &'static str {
        "task-code-system-nonstandard"
    }
    fn severity(&self) -> Severity {
        Severity::Info
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
        if let Some(shape) = c.nonstandard.get(&i) {
            let system = c.shape(*shape).code.and_then(|c| c.0).unwrap_or_default();
            let shown = if system.is_empty() {
                "(none)"
            } else {
                system.as_str()
            };
            out.push(about(
                self,
                c,
                i,
                n,
                format!(
                    "code pull-notification has system {shown}, expected {}",
                    crate::fhir::task::TASK_CODE_SYSTEM
                ),
            ));
        }
    }
}

pub struct WorkflowTaskReferenceMissing;
impl Rule for WorkflowTaskReferenceMissing {
    fn category(&self) -> &'static str {
        "workflow-task-reference-missing"
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
        if n.task.get_workflow_task == Some(true) && n.task.based_on.is_none() {
            out.push(about(
                self,
                c,
                i,
                n,
                "get-workflow-task is true but basedOn names no Workflow Task".into(),
            ));
        }
    }
}
