//! Compact events: what the model needs of one log record, with texts interned and Tasks read
//! into `TaskInfo`. NDJSON lines take a fast path that borrows from the line; anything it does not
//! recognise as plainly valid goes through the exact reader of `event.rs`, which decides between
//! an event and a reject with its reason. CSV and Parquet rows come through `event.rs` too.
//! The fast path is the scanner (`scan.rs`), and for lines it declines the serde one-pass reader
//! (`compact/serde_line.rs`); `compact/tests.rs` checks that the readers agree.

use super::event::{Event, Interaction, Origin, RejectReason, Side, parse_json_line};
use super::intern::{Interner, Sym};
use super::task::{TaskInfo, TaskReq};
use crate::fhir::task::Task;
use crate::time::parse_rfc3339;
use std::borrow::Cow;

mod serde_line;

/// What an event carries besides its time, interaction and status.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Notify {
        task: Box<TaskInfo>,
        requests: Vec<TaskReq>,
        /// The low 64 bits of the body's hash (0: not known).
        body_hash: u64,
        assertion: Option<bool>,
        assertion_bsn: Sym,
        sender_base: Sym,
    },
    /// A notify whose Task body is byte for byte one the sender logged for `id` (not read again).
    NotifyKnown {
        id: Sym,
        body_hash: u64,
        assertion: Option<bool>,
        assertion_bsn: Sym,
        sender_base: Sym,
    },
    Cancel {
        task: Box<TaskInfo>,
    },
    Pull {
        notification: Sym,
        request: Sym,
        sender_base: Sym,
        body: Option<Box<(TaskInfo, Vec<TaskReq>)>>,
    },
    Push {
        message: Sym,
        outcome: Sym,
        sender: Sym,
        receiver: Sym,
    },
}

/// One event, compact.
#[derive(Debug, Clone, PartialEq)]
pub struct CEvent {
    pub ts: i64,
    pub interaction: Interaction,
    pub status: Option<u16>,
    pub body: Body,
}

/// A JSON text value: a string (borrowed unless it has escapes) or a number's text; `Err` for
/// another type, which the exact reader then words.
fn text(raw: Option<&str>) -> Result<Option<Cow<'_, str>>, ()> {
    let Some(g) = raw else { return Ok(None) };
    let s: Cow<str> = if g.starts_with('"') {
        let inner = &g[1..g.len() - 1];
        if inner.contains('\\') {
            Cow::Owned(serde_json::from_str::<String>(g).map_err(|_| ())?)
        } else {
            Cow::Borrowed(inner)
        }
    } else if g == "null" {
        return Ok(None);
    } else if g.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        Cow::Borrowed(g)
    } else {
        return Err(());
    };
    Ok(match s {
        Cow::Borrowed(b) => {
            let t = b.trim();
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
        Cow::Owned(o) => {
            let t = o.trim();
            (!t.is_empty()).then(|| Cow::Owned(t.to_owned()))
        }
    })
}

fn sym(i: &Interner, raw: Option<&str>) -> Result<Sym, ()> {
    Ok(match text(raw)? {
        Some(t) => i.intern(&t),
        None => Sym::NONE,
    })
}

fn status(raw: Option<&str>) -> Result<Option<u16>, ()> {
    let Some(g) = raw else { return Ok(None) };
    if g == "null" {
        return Ok(None);
    }
    let s = g.trim_matches('"');
    let s = s.strip_suffix(".0").unwrap_or(s);
    match s.parse::<u16>() {
        Ok(n) if (100..=599).contains(&n) => Ok(Some(n)),
        _ => Err(()),
    }
}

fn flag(raw: Option<&str>) -> Result<Option<bool>, ()> {
    let Some(raw) = raw else { return Ok(None) };
    match raw {
        "null" => Ok(None),
        "true" | "\"true\"" | "1" => Ok(Some(true)),
        "false" | "\"false\"" | "0" => Ok(Some(false)),
        _ => Err(()),
    }
}

/// A Task as read: what the model keeps of it, its request inputs, and its body's hash.
pub(crate) type ReadTask = Box<((TaskInfo, Vec<TaskReq>), u64)>;

/// A `task` or `body` field as the fast path reads it in the same pass as the line.
pub(crate) enum TaskField {
    Absent,
    Null,
    /// An object; `None` when it is not a Task. With the body's hash (0 when not computed).
    Object(Option<ReadTask>),
    /// A body registered by the sending side, for this identifier.
    Known(Sym, u64),
    /// Another JSON type (the exact reader decides).
    Other,
}

/// The contract's fields of a line as raw JSON text (`text`, `status` and `flag` read them).
#[derive(Default, Clone, Copy)]
pub(crate) struct RawRec<'a> {
    pub ts: Option<&'a str>,
    pub interaction: Option<&'a str>,
    pub status: Option<&'a str>,
    pub error: Option<&'a str>,
    pub notification: Option<&'a str>,
    pub request: Option<&'a str>,
    pub bsn_in_assertion: Option<&'a str>,
    pub assertion_bsn: Option<&'a str>,
    pub sender_base: Option<&'a str>,
    pub message: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub receiver: Option<&'a str>,
}

/// The line, read in one pass: `task` and `body` objects straight into `TaskInfo`, the other
/// fields kept as raw JSON for `text`, `status` and `flag`.
pub(crate) struct Line<'a> {
    pub rec: RawRec<'a>,
    pub task: TaskField,
    pub body: TaskField,
}

fn task_of(f: TaskField) -> Result<Option<ReadTask>, ()> {
    match f {
        TaskField::Absent | TaskField::Null => Ok(None),
        TaskField::Object(Some(t)) => Ok(Some(t)),
        TaskField::Object(None) | TaskField::Other | TaskField::Known(..) => Err(()),
    }
}

/// The fast path: `Err(())` whenever the line is anything but plainly valid.
fn fast(
    i: &Interner,
    text_line: &str,
    known: Option<(&super::known::KnownBodies, bool)>,
) -> Result<CEvent, ()> {
    if let Some(line) = super::scan::line(i, text_line, known) {
        return build(i, line);
    }
    build(i, serde_line::read(i, text_line)?)
}

/// The event of a line read by the serde reader or the scanner (`Err` where the exact reader
/// must decide).
fn build(i: &Interner, line: Line) -> Result<CEvent, ()> {
    let Line {
        rec,
        task: task_field,
        body: body_field,
    } = line;
    let known = match task_field {
        TaskField::Known(id, h) => Some((id, h)),
        _ => None,
    };
    let task_info = if known.is_some() {
        None
    } else {
        task_of(task_field)?
    };
    let body_info = task_of(body_field)?.map(|b| Box::new(b.0));
    let ts = text(rec.ts)?.ok_or(())?;
    let ts = parse_rfc3339(&ts).map_err(|_| ())?;
    let interaction = text(rec.interaction)?.ok_or(())?;
    let interaction = Interaction::parse(&interaction).ok_or(())?;
    if interaction != Interaction::PushProcessed && rec.status.is_none() {
        return Err(());
    }
    let st = status(rec.status)?;
    if let Some((id, body_hash)) = known {
        // Only a notify may take the shortcut; a cancel is read in full.
        if interaction != Interaction::Notify {
            return Err(());
        }
        check_texts(&rec)?;
        let body = Body::NotifyKnown {
            id,
            body_hash,
            assertion: flag(rec.bsn_in_assertion)?,
            assertion_bsn: sym(i, rec.assertion_bsn)?,
            sender_base: sym(i, rec.sender_base)?,
        };
        return Ok(CEvent {
            ts,
            interaction,
            status: st,
            body,
        });
    }
    let body = match interaction {
        Interaction::Notify | Interaction::Cancel => {
            let t = task_info.ok_or(())?;
            check_texts(&rec)?;
            let ((t, requests), body_hash) = *t;
            let t = Box::new(t);
            if interaction == Interaction::Notify {
                Body::Notify {
                    task: t,
                    requests,
                    body_hash,
                    assertion: flag(rec.bsn_in_assertion)?,
                    assertion_bsn: sym(i, rec.assertion_bsn)?,
                    sender_base: sym(i, rec.sender_base)?,
                }
            } else {
                flag(rec.bsn_in_assertion)?;
                Body::Cancel { task: t }
            }
        }
        Interaction::GetWorkflowTask | Interaction::Search | Interaction::Read => {
            let body = body_info;
            check_texts(&rec)?;
            flag(rec.bsn_in_assertion)?;
            let notification = sym(i, rec.notification)?;
            let request = sym(i, rec.request)?;
            if notification.is_none() || request.is_none() {
                return Err(());
            }
            Body::Pull {
                notification,
                request,
                sender_base: sym(i, rec.sender_base)?,
                body,
            }
        }
        Interaction::Push | Interaction::PushProcessed => {
            if task_info.is_some() || body_info.is_some() {
                return Err(());
            }
            check_texts(&rec)?;
            flag(rec.bsn_in_assertion)?;
            let message = sym(i, rec.message)?;
            if message.is_none() {
                return Err(());
            }
            let outcome = text(rec.outcome)?;
            if interaction == Interaction::PushProcessed
                && !matches!(outcome.as_deref(), Some("accepted" | "rejected"))
            {
                return Err(());
            }
            Body::Push {
                message,
                outcome: outcome.map_or(Sym::NONE, |o| i.intern(&o)),
                sender: sym(i, rec.sender)?,
                receiver: sym(i, rec.receiver)?,
            }
        }
    };
    Ok(CEvent {
        ts,
        interaction,
        status: st,
        body,
    })
}

/// Every text field must be a string, number or null (else the exact reader rejects the line).
fn check_texts(rec: &RawRec) -> Result<(), ()> {
    for f in [
        rec.notification,
        rec.request,
        rec.message,
        rec.outcome,
        rec.sender,
        rec.receiver,
        rec.assertion_bsn,
        rec.sender_base,
    ] {
        text(f)?;
    }
    Ok(())
}

/// Reads one NDJSON line (already trimmed, not blank, within the length limit); `known`: the
/// registry of sent Task bodies (a received notify may then come back as `NotifyKnown`).
pub(crate) fn parse_line(
    i: &Interner,
    side: Side,
    origin: Origin,
    line: &[u8],
    known: Option<&super::known::KnownBodies>,
) -> Result<CEvent, RejectReason> {
    if let Ok(text_line) = std::str::from_utf8(line)
        && text_line.starts_with('{')
        && let Ok(e) = fast(i, text_line, known.map(|k| (k, side == Side::Sent)))
    {
        return Ok(e);
    }
    parse_json_line(side, origin, line).map(|e| from_event(&e, i))
}

/// The compact Task of a `fhir::task::Task`, and its requests.
pub fn task_info(t: &Task, i: &Interner) -> (TaskInfo, Vec<TaskReq>) {
    let problems = t.malformations();
    let mut bits = 0u8;
    for (b, p) in super::task::PROBLEMS.iter().enumerate() {
        if problems.contains(p) {
            bits |= 1 << b;
        }
    }
    let info = TaskInfo {
        shape: super::task::Shape::intern(
            i,
            t.resource_type.as_deref(),
            t.status.as_deref(),
            t.intent.as_deref(),
            t.code.as_ref().map(|(s, c)| (s.as_deref(), c.as_str())),
        ),
        id: i.intern_opt(t.id.as_deref()),
        identifier: i.intern_opt(t.identifier.as_deref()),
        group: i.intern_opt(t.group.as_deref()),
        based_on: i.intern_opt(t.based_on.as_deref()),
        patient_bsn: i.intern_opt(t.patient_bsn.as_deref()),
        sender_org: i.intern_opt(t.sender_org.as_deref()),
        sender_agent: i.intern_opt(t.sender_agent.as_deref()),
        receiver_org: i.intern_opt(t.receiver_org.as_deref()),
        authored_on: t.authored_on.into(),
        expires: t.expires.into(),
        expires_unreadable: t.expires_unreadable,
        get_workflow_task: t.get_workflow_task,
        has_authorization_base: t.authorization_base.is_some(),
        problems: bits,
        nonstandard_code_system: t.nonstandard_code_system().is_some(),
        workflow_active: t.workflow_active(),
    };
    let requests = t
        .requests
        .iter()
        .map(|r| TaskReq {
            raw: i.intern(&r.raw),
            kind: r.kind.clone(),
            code: i.intern_opt(r.code.as_deref()),
        })
        .collect();
    (info, requests)
}

/// The compact form of an event read by the exact reader.
pub fn from_event(e: &Event, i: &Interner) -> CEvent {
    let s = |v: &Option<String>| i.intern_opt(v.as_deref());
    let body = match e.interaction {
        Interaction::Notify => {
            let (task, requests) = e
                .task
                .as_deref()
                .map(|t| task_info(t, i))
                .unwrap_or_default();
            Body::Notify {
                task: Box::new(task),
                requests,
                body_hash: 0,
                assertion: e.bsn_in_assertion,
                assertion_bsn: s(&e.assertion_bsn),
                sender_base: s(&e.sender_base),
            }
        }
        Interaction::Cancel => Body::Cancel {
            task: Box::new(
                e.task
                    .as_deref()
                    .map(|t| task_info(t, i).0)
                    .unwrap_or_default(),
            ),
        },
        Interaction::GetWorkflowTask | Interaction::Search | Interaction::Read => Body::Pull {
            notification: s(&e.notification),
            request: s(&e.request),
            sender_base: s(&e.sender_base),
            body: e.body.as_deref().map(|t| Box::new(task_info(t, i))),
        },
        Interaction::Push | Interaction::PushProcessed => Body::Push {
            message: s(&e.message),
            outcome: s(&e.outcome),
            sender: s(&e.sender),
            receiver: s(&e.receiver),
        },
    };
    CEvent {
        ts: e.ts,
        interaction: e.interaction,
        status: e.status,
        body,
    }
}

#[cfg(test)]
mod tests;
