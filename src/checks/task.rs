//! The Notification Task itself: malformed Tasks, a non-standard code system for the
//! `pull-notification` code (reported, not rejected), and `get-workflow-task` without `basedOn`.

use super::{Finding, Rule, Severity};
use crate::model::{Model, Params};

pub struct NotificationMalformed;
impl Rule for NotificationMalformed {
    fn category(&self) -> &'static str {
        "notification-malformed"
    }
    fn severity(&self) -> Severity {
        Severity::Error
    }
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if !n.malformations.is_empty() {
                out.push(self.about(n, n.malformations.join("; ")));
            }
        }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if let Some(system) = &n.nonstandard_code_system {
                let shown = if system.is_empty() {
                    "(none)"
                } else {
                    system.as_str()
                };
                out.push(self.about(
                    n,
                    format!(
                        "code pull-notification has system {shown}, expected {}",
                        crate::fhir::task::TASK_CODE_SYSTEM
                    ),
                ));
            }
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
    fn check(&self, m: &Model, _: &Params, out: &mut Vec<Finding>) {
        for n in &m.notifications {
            if n.task.get_workflow_task == Some(true) && n.task.based_on.is_none() {
                out.push(self.about(
                    n,
                    "get-workflow-task is true but basedOn names no Workflow Task".into(),
                ));
            }
        }
    }
}
