//! What both Task readers (the serde reader of `seed.rs` and the scanner of `scan/`) collect from
//! a Task, and how it becomes a `TaskInfo`: the borrowed shapes of its fields, its concepts and
//! inputs, the classification of an input into a request, the Workflow Task's id.

use super::{BObj, BText, Shape, TaskInfo, TaskReq};
use crate::fhir::request;
use crate::fhir::task::{
    BSN_SYSTEM, PULL_NOTIFICATION, RequestKind, TASK_CODE_SYSTEM, request_shape,
};
use crate::ingest::intern::{Interner, Sym};
use crate::time::parse_fhir_datetime;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawIdentifier<'a> {
    #[serde(borrow)]
    pub(crate) system: BText<'a>,
    #[serde(borrow)]
    pub(crate) value: BText<'a>,
}

impl RawIdentifier<'_> {
    pub(crate) fn key(&self, i: &Interner) -> Option<Sym> {
        let value = self.value.get()?;
        Some(i.intern_pair(self.system.get(), value))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawReference<'a> {
    #[serde(borrow)]
    pub(crate) reference: BText<'a>,
    #[serde(borrow)]
    pub(crate) identifier: BObj<RawIdentifier<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawCoding<'a> {
    #[serde(borrow)]
    pub(crate) system: BText<'a>,
    #[serde(borrow)]
    pub(crate) code: BText<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRequester<'a> {
    #[serde(borrow)]
    pub(crate) agent: BObj<RawReference<'a>>,
    #[serde(borrow, rename = "onBehalfOf")]
    pub(crate) on_behalf_of: BObj<RawReference<'a>>,
    #[serde(borrow)]
    pub(crate) identifier: BObj<RawIdentifier<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawPeriod<'a> {
    #[serde(borrow)]
    pub(crate) end: BText<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRestriction<'a> {
    #[serde(borrow)]
    pub(crate) period: BObj<RawPeriod<'a>>,
}

/// A coding's (system, code), each as written when present.
pub(crate) type Coding<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// What a `CodeableConcept` says, folded over its codings.
#[derive(Default)]
pub(crate) struct Concept<'a> {
    /// The first coding: (system, code).
    pub(crate) first: Option<Coding<'a>>,
    /// The system of the first coding whose code is `pull-notification`.
    pub(crate) pull_notification: Option<Option<Cow<'a, str>>>,
    /// The first code present.
    pub(crate) first_code: Option<Cow<'a, str>>,
    pub(crate) get_workflow_task: bool,
    pub(crate) authorization_base: bool,
}

impl<'a> Concept<'a> {
    /// Folds one coding in (codings in order).
    pub(crate) fn add(&mut self, k: RawCoding<'a>) {
        let code = trimmed(k.code);
        let system = trimmed(k.system);
        if self.first.is_none() {
            self.first = Some((system.clone(), code.clone()));
        }
        if let Some(code) = code {
            if self.pull_notification.is_none() && code == PULL_NOTIFICATION {
                self.pull_notification = Some(system);
            }
            match code.as_ref() {
                "get-workflow-task" => self.get_workflow_task = true,
                "authorization-base" => self.authorization_base = true,
                _ => {}
            }
            if self.first_code.is_none() {
                self.first_code = Some(code);
            }
        }
    }
}

pub(crate) fn trimmed(t: BText<'_>) -> Option<Cow<'_, str>> {
    match t.0? {
        Cow::Borrowed(b) => {
            let b = b.trim();
            (!b.is_empty()).then_some(Cow::Borrowed(b))
        }
        Cow::Owned(o) => {
            let b = o.trim();
            (!b.is_empty()).then(|| Cow::Owned(b.to_owned()))
        }
    }
}

/// One Task input, as the classification needs it.
#[derive(Default)]
pub(crate) struct Input<'a> {
    pub(crate) kind: Concept<'a>,
    pub(crate) reference: Option<Cow<'a, str>>,
    pub(crate) value_string: BText<'a>,
    pub(crate) value_uri: BText<'a>,
    pub(crate) value_url: BText<'a>,
    pub(crate) value_boolean: Option<bool>,
}

/// What a Task reader collected, before it becomes a `TaskInfo` (shared by the serde reader and
/// the scanner of `scan.rs`).
#[derive(Default)]
pub(crate) struct TaskParts<'a> {
    pub task: TaskInfo,
    pub reqs: Vec<TaskReq>,
    pub resource_type: BText<'a>,
    pub id: BText<'a>,
    pub identifier: Option<Sym>,
    pub group: Option<Sym>,
    pub status: BText<'a>,
    pub intent: BText<'a>,
    pub code: Concept<'a>,
    pub based_on: Option<String>,
    pub for_: Option<RawReference<'a>>,
    pub authored_on: BText<'a>,
    pub requester: Option<RawRequester<'a>>,
    pub owner: Option<RawReference<'a>>,
    pub restriction: Option<RawRestriction<'a>>,
}

impl TaskParts<'_> {
    /// The compact Task; `None` for another resourceType.
    pub fn finish(self, i: &Interner) -> Option<(TaskInfo, Vec<TaskReq>)> {
        let TaskParts {
            mut task,
            reqs,
            resource_type,
            id,
            identifier,
            group,
            status,
            intent,
            code,
            based_on,
            for_,
            authored_on,
            requester,
            owner,
            restriction,
        } = self;
        if let Some(rt) = resource_type.get()
            && rt != "Task"
        {
            return None;
        }
        let code = match code.pull_notification {
            Some(system) => Some((system, Cow::Borrowed(PULL_NOTIFICATION))),
            None => code.first.and_then(|(s, c)| c.map(|c| (s, c))),
        };
        let patient_bsn = for_
            .as_ref()
            .and_then(|r| r.identifier.get())
            .filter(|x| x.system.get() == Some(BSN_SYSTEM))
            .and_then(|x| x.value.get());
        let (sender_org, sender_agent) = match &requester {
            Some(req) => {
                let agent = req
                    .agent
                    .get()
                    .and_then(|a| a.identifier.get())
                    .and_then(|x| x.key(i));
                let org = req
                    .on_behalf_of
                    .get()
                    .and_then(|a| a.identifier.get())
                    .and_then(|x| x.key(i));
                let r4 = req.identifier.get().and_then(|x| x.key(i));
                let agent = agent.or(r4);
                (org.or(agent), agent)
            }
            None => (None, None),
        };
        let receiver_org = owner
            .as_ref()
            .and_then(|o| o.identifier.get())
            .and_then(|x| x.key(i));
        let end = restriction
            .as_ref()
            .and_then(|r| r.period.get())
            .and_then(|p| p.end.get());
        let expires = end.and_then(|e| parse_fhir_datetime(e, true));
        let status = status.get();
        let intent = intent.get();
        let pull_code = matches!(&code, Some((_, c)) if c == PULL_NOTIFICATION);
        let mut problems = 0u8;
        for (bit, bad) in [
            identifier.is_none(),
            group.is_none(),
            status != Some("requested"),
            intent != Some("proposal"),
            !pull_code,
        ]
        .into_iter()
        .enumerate()
        {
            if bad {
                problems |= 1 << bit;
            }
        }
        task.nonstandard_code_system = match &code {
            Some((system, c)) if c == PULL_NOTIFICATION => {
                system.as_deref().unwrap_or("") != TASK_CODE_SYSTEM
            }
            _ => false,
        };
        task.shape = Shape::intern(
            i,
            resource_type.get(),
            status,
            intent,
            code.as_ref().map(|(s, c)| (s.as_deref(), c.as_ref())),
        );
        task.id = i.intern_opt(id.get());
        task.identifier = identifier.unwrap_or(Sym::NONE);
        task.group = group.unwrap_or(Sym::NONE);
        task.based_on = i.intern_opt(based_on.as_deref());
        task.patient_bsn = i.intern_opt(patient_bsn);
        task.sender_org = sender_org.unwrap_or(Sym::NONE);
        task.sender_agent = sender_agent.unwrap_or(Sym::NONE);
        task.receiver_org = receiver_org.unwrap_or(Sym::NONE);
        task.authored_on = authored_on
            .get()
            .and_then(|a| parse_fhir_datetime(a, false))
            .into();
        task.expires = expires.into();
        task.expires_unreadable = end.is_some() && expires.is_none();
        task.problems = problems;
        task.workflow_active = matches!(
            status,
            None | Some("requested" | "received" | "accepted" | "in-progress")
        );
        Some((task, reqs))
    }
}

/// `Task/abc`, `https://host/fhir/Task/abc`, `Task/abc/_history/2` → `abc` (as `fhir::task`).
pub(crate) fn workflow_task_id(reference: &str) -> Option<String> {
    let normalised = request::normalise(reference, None);
    let rest = normalised.strip_prefix("Task/")?;
    let id = rest.split(['/', '?']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

pub(crate) fn classify_input(
    input: Input,
    task: &mut TaskInfo,
    reqs: &mut Vec<TaskReq>,
    i: &Interner,
) {
    let kind = &input.kind;
    let code = kind.first_code.as_deref();
    if let Some(reference) = input.reference.as_deref() {
        reqs.push(TaskReq {
            kind: RequestKind::Read,
            raw: i.intern(reference),
            code: i.intern_opt(code),
        });
        return;
    }
    if let Some(flag) = input.value_boolean {
        if kind.get_workflow_task {
            task.get_workflow_task = Some(flag || task.get_workflow_task.unwrap_or(false));
        }
        return;
    }
    let text = input
        .value_string
        .get()
        .or(input.value_uri.get())
        .or(input.value_url.get());
    let Some(text) = text else { return };
    if kind.authorization_base {
        task.has_authorization_base = true;
    } else if kind.get_workflow_task {
        if let Ok(flag) = text.parse::<bool>() {
            task.get_workflow_task = Some(flag);
        }
    } else {
        let raw = i.intern(text);
        if let Some(kind) = shape(i, raw, text) {
            reqs.push(TaskReq {
                kind,
                raw,
                code: i.intern_opt(code),
            });
        }
    }
}

thread_local! {
    /// `request_shape` of texts already seen, by (interner, symbol): the same searches recur.
    static SHAPES: std::cell::RefCell<crate::ingest::intern::SymMap<(u32, Sym), u8>> =
        std::cell::RefCell::new(crate::ingest::intern::SymMap::default());
}

/// `request_shape(text)`, remembered per interned text.
fn shape(i: &Interner, raw: Sym, text: &str) -> Option<RequestKind> {
    let key = (i.id(), raw);
    let known = SHAPES.with(|m| m.borrow().get(&key).copied());
    let code = match known {
        Some(c) => c,
        None => {
            let c = match request_shape(text) {
                None => 0,
                Some(RequestKind::Read) => 1,
                Some(RequestKind::Search) => 2,
                Some(RequestKind::WorkflowTask) => 3,
            };
            SHAPES.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(key, c);
            });
            c
        }
    };
    match code {
        1 => Some(RequestKind::Read),
        2 => Some(RequestKind::Search),
        3 => Some(RequestKind::WorkflowTask),
        _ => None,
    }
}
