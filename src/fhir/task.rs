//! The tolerant Task reader: turns Notification and Workflow Task JSON (STU3 or R4-shaped, release
//! 1.2 or 1.4 input codes, identifier as object or array, typos in code systems, template
//! placeholders) into the compact `Task` the checks need. No JSON tree is kept.
//!
//! Inputs are classified by value type first (DOMAIN.md): `valueReference` → read, `valueBoolean`
//! with `get-workflow-task` → the Workflow Task flag, `valueString` with `authorization-base` → a
//! credential held only in memory, any other request-shaped `valueString` → search (or read).

use super::lenient::{Flag, Many, Obj, Text};
use super::request;
use super::resource_types::RESOURCE_TYPES;
use crate::secret::Secret;
use crate::time::parse_fhir_datetime;
use serde::Deserialize;

pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
pub const TASK_CODE_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/TaskCode";
pub const PULL_NOTIFICATION: &str = "pull-notification";

/// What a Task input asks the receiver to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    Read,
    Search,
    WorkflowTask,
}

impl RequestKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestKind::Read => "read",
            RequestKind::Search => "search",
            RequestKind::WorkflowTask => "get-workflow-task",
        }
    }
}

/// One retrieval named by a Task input, as written (not yet normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub kind: RequestKind,
    pub raw: String,
    /// The input's type code (`read-resource`, a LOINC code, …), for the audit trail.
    pub code: Option<String>,
}

/// The parts of a Task that pullrecon uses.
#[derive(Debug, Clone, Default)]
pub struct Task {
    pub resource_type: Option<String>,
    pub id: Option<String>,
    /// `system|value` of the first identifier with a value.
    pub identifier: Option<String>,
    pub group: Option<String>,
    pub status: Option<String>,
    pub intent: Option<String>,
    /// The coding that carries `pull-notification`, if any: (system, code).
    pub code: Option<(Option<String>, String)>,
    /// The Workflow Task id from `basedOn` (`Task/<id>`, also from absolute URLs).
    pub based_on: Option<String>,
    pub patient_bsn: Option<String>,
    pub sender_org: Option<String>,
    pub sender_agent: Option<String>,
    pub receiver_org: Option<String>,
    pub authored_on: Option<i64>,
    pub expires: Option<i64>,
    /// `restriction.period.end` was present but could not be read as a date.
    pub expires_unreadable: bool,
    pub get_workflow_task: Option<bool>,
    pub authorization_base: Option<Secret>,
    pub requests: Vec<TaskRequest>,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("Task is not valid JSON: {0}")]
    Json(String),
    #[error("not a Task resource (resourceType {0})")]
    NotATask(String),
}

// ---- the serde shapes (lenient) ----

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawIdentifier {
    system: Text,
    value: Text,
}

impl RawIdentifier {
    fn key(&self) -> Option<String> {
        let value = self.value.get()?;
        Some(match self.system.get() {
            Some(system) => format!("{system}|{value}"),
            None => value.to_owned(),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReference {
    reference: Text,
    identifier: Obj<RawIdentifier>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCoding {
    system: Text,
    code: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConcept {
    coding: Many<RawCoding>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRequester {
    agent: Obj<RawReference>,
    #[serde(rename = "onBehalfOf")]
    on_behalf_of: Obj<RawReference>,
    identifier: Obj<RawIdentifier>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPeriod {
    end: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRestriction {
    period: Obj<RawPeriod>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawInput {
    #[serde(rename = "type")]
    kind: Obj<RawConcept>,
    #[serde(rename = "valueReference")]
    value_reference: Obj<RawReference>,
    #[serde(rename = "valueString")]
    value_string: Text,
    #[serde(rename = "valueUri")]
    value_uri: Text,
    #[serde(rename = "valueUrl")]
    value_url: Text,
    #[serde(rename = "valueBoolean")]
    value_boolean: Flag,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTask {
    #[serde(rename = "resourceType")]
    resource_type: Text,
    id: Text,
    identifier: Many<RawIdentifier>,
    #[serde(rename = "groupIdentifier")]
    group_identifier: Many<RawIdentifier>,
    status: Text,
    intent: Text,
    code: Obj<RawConcept>,
    #[serde(rename = "basedOn")]
    based_on: Many<RawReference>,
    #[serde(rename = "for")]
    for_: Obj<RawReference>,
    #[serde(rename = "authoredOn")]
    authored_on: Text,
    requester: Obj<RawRequester>,
    owner: Obj<RawReference>,
    restriction: Obj<RawRestriction>,
    input: Many<RawInput>,
}

/// Reads a Task from JSON text. Fails only on invalid JSON, a non-object, or another resourceType.
pub fn parse_task(json: &str) -> Result<Task, TaskError> {
    let raw: Obj<RawTask> =
        serde_json::from_str(json).map_err(|e| TaskError::Json(short_json_error(&e)))?;
    let raw = raw
        .0
        .ok_or_else(|| TaskError::Json("the Task is not a JSON object".into()))?;
    from_raw(raw)
}

/// A serde_json error without the offending content (it may hold a BSN): category and position.
pub fn short_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{what} at column {}", e.column())
}

fn from_raw(raw: RawTask) -> Result<Task, TaskError> {
    if let Some(rt) = raw.resource_type.get()
        && rt != "Task"
    {
        return Err(TaskError::NotATask(rt.chars().take(40).collect()));
    }
    let code = raw.code.get().and_then(|c| {
        let codings = &c.coding.0;
        codings
            .iter()
            .find(|k| k.code.get() == Some(PULL_NOTIFICATION))
            .or_else(|| codings.first())
            .and_then(|k| {
                k.code
                    .get()
                    .map(|code| (k.system.get().map(str::to_owned), code.to_owned()))
            })
    });
    let based_on = raw
        .based_on
        .0
        .iter()
        .filter_map(|r| r.reference.get())
        .find_map(workflow_task_id);
    let patient_bsn = raw
        .for_
        .get()
        .and_then(|r| r.identifier.get())
        .filter(|i| i.system.get() == Some(BSN_SYSTEM))
        .and_then(|i| i.value.get().map(str::to_owned));
    let (sender_org, sender_agent) = match raw.requester.get() {
        Some(req) => {
            let agent = req
                .agent
                .get()
                .and_then(|a| a.identifier.get())
                .and_then(RawIdentifier::key);
            let org = req
                .on_behalf_of
                .get()
                .and_then(|a| a.identifier.get())
                .and_then(RawIdentifier::key);
            let r4 = req.identifier.get().and_then(RawIdentifier::key);
            let agent = agent.or(r4);
            (org.or_else(|| agent.clone()), agent)
        }
        None => (None, None),
    };
    let receiver_org = raw
        .owner
        .get()
        .and_then(|o| o.identifier.get())
        .and_then(RawIdentifier::key);
    let end = raw
        .restriction
        .get()
        .and_then(|r| r.period.get())
        .and_then(|p| p.end.get().map(str::to_owned));
    let expires = end.as_deref().and_then(|e| parse_fhir_datetime(e, true));

    let mut task = Task {
        resource_type: raw.resource_type.get().map(str::to_owned),
        id: raw.id.get().map(str::to_owned),
        identifier: raw.identifier.0.iter().find_map(RawIdentifier::key),
        group: raw.group_identifier.0.iter().find_map(RawIdentifier::key),
        status: raw.status.get().map(str::to_owned),
        intent: raw.intent.get().map(str::to_owned),
        code,
        based_on,
        patient_bsn,
        sender_org,
        sender_agent,
        receiver_org,
        authored_on: raw
            .authored_on
            .get()
            .and_then(|a| parse_fhir_datetime(a, false)),
        expires,
        expires_unreadable: end.is_some() && expires.is_none(),
        ..Task::default()
    };
    for input in raw.input.0 {
        classify_input(input, &mut task);
    }
    Ok(task)
}

/// `Task/abc`, `https://host/fhir/Task/abc`, `Task/abc/_history/2` → `abc`.
fn workflow_task_id(reference: &str) -> Option<String> {
    let normalised = request::normalise(reference, None);
    let rest = normalised.strip_prefix("Task/")?;
    let id = rest.split(['/', '?']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

fn classify_input(input: RawInput, task: &mut Task) {
    let codings = input.kind.get().map(|k| &k.coding.0[..]).unwrap_or(&[]);
    let code = codings.iter().find_map(|c| c.code.get()).map(str::to_owned);
    let is = |name: &str| codings.iter().any(|c| c.code.get() == Some(name));

    if let Some(reference) = input.value_reference.get().and_then(|r| r.reference.get()) {
        task.requests.push(TaskRequest {
            kind: RequestKind::Read,
            raw: reference.to_owned(),
            code,
        });
        return;
    }
    if let Some(flag) = input.value_boolean.0 {
        if is("get-workflow-task") {
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
    if is("authorization-base") {
        task.authorization_base = Some(Secret::new(text.to_owned()));
    } else if is("get-workflow-task") {
        if let Some(flag) = Flag(text.parse::<bool>().ok()).0 {
            task.get_workflow_task = Some(flag);
        }
    } else if let Some(kind) = request_shape(text) {
        task.requests.push(TaskRequest {
            kind,
            raw: text.to_owned(),
            code,
        });
    }
}

/// Whether a string looks like a FHIR request, and which kind: `Type/id` is a read, anything else
/// starting with a resource type (or an absolute URL) is a search.
pub fn request_shape(text: &str) -> Option<RequestKind> {
    let rel = request::normalise(text, None);
    let first = rel.chars().next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rel.as_str(), None),
    };
    let segments: Vec<&str> = path.split('/').collect();
    if RESOURCE_TYPES.binary_search(&segments[0]).is_err() {
        return None;
    }
    let read = query.is_none()
        && segments.len() == 2
        && !segments[1].is_empty()
        && !segments[1].starts_with('$')
        && !segments[1].starts_with('_');
    Some(if read {
        RequestKind::Read
    } else {
        RequestKind::Search
    })
}

impl Task {
    /// The coding is `pull-notification` (whatever the system).
    pub fn has_pull_notification_code(&self) -> bool {
        matches!(&self.code, Some((_, c)) if c == PULL_NOTIFICATION)
    }

    /// The code system of the `pull-notification` coding when it is not the standard one.
    pub fn nonstandard_code_system(&self) -> Option<&str> {
        match &self.code {
            Some((system, c)) if c == PULL_NOTIFICATION => {
                let s = system.as_deref().unwrap_or("");
                (s != TASK_CODE_SYSTEM).then_some(s)
            }
            _ => None,
        }
    }

    /// Why this Task is not a well-formed Notification Task, if it is not.
    pub fn malformations(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.identifier.is_none() {
            out.push("no identifier");
        }
        if self.group.is_none() {
            out.push("no groupIdentifier");
        }
        if self.status.as_deref() != Some("requested") {
            out.push("status is not 'requested'");
        }
        if self.intent.as_deref() != Some("proposal") {
            out.push("intent is not 'proposal'");
        }
        if !self.has_pull_notification_code() {
            out.push("code is not 'pull-notification'");
        }
        out
    }

    /// The Workflow Task status is one in which pulls may still be done (or unknown).
    pub fn workflow_active(&self) -> bool {
        matches!(
            self.status.as_deref(),
            None | Some("requested" | "received" | "accepted" | "in-progress")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_value_type() {
        let t = parse_task(
            r#"{"resourceType":"Task","input":[
              {"type":{"coding":[{"code":"read-available-resource"}]},"valueReference":{"reference":"Patient/1"}},
              {"type":{"coding":[{"system":"http://loinc.org","code":"11450-4"}]},"valueString":"Condition"},
              {"type":{"coding":[{"code":"search-resource"}]},"valueString":"Observation?code=x"},
              {"type":{"coding":[{"code":"read-resource"}]},"valueString":"Observation/abc"},
              {"type":{"coding":[{"code":"get-workflow-task"}]},"valueBoolean":true},
              {"type":{"coding":[{"code":"authorization-base"}]},"valueString":"c2VjcmV0"},
              {"type":{"coding":[{"code":"x"}]},"valueString":"<<Search URL>>"}
            ]}"#,
        )
        .unwrap();
        let kinds: Vec<_> = t
            .requests
            .iter()
            .map(|r| (r.kind.clone(), r.raw.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (RequestKind::Read, "Patient/1"),
                (RequestKind::Search, "Condition"),
                (RequestKind::Search, "Observation?code=x"),
                (RequestKind::Read, "Observation/abc"),
            ]
        );
        assert_eq!(t.get_workflow_task, Some(true));
        assert_eq!(
            t.authorization_base.as_ref().map(|s| s.expose()),
            Some("c2VjcmV0")
        );
    }

    #[test]
    fn resource_types_are_sorted() {
        assert!(RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(request_shape("Verwijzing"), None);
        assert_eq!(request_shape("Condition"), Some(RequestKind::Search));
    }

    #[test]
    fn based_on_forms() {
        assert_eq!(workflow_task_id("Task/abc").as_deref(), Some("abc"));
        assert_eq!(
            workflow_task_id("https://x.example/fhir/Task/abc/_history/2").as_deref(),
            Some("abc")
        );
        assert_eq!(workflow_task_id("Patient/abc"), None);
    }

    #[test]
    fn other_resource_is_refused() {
        assert!(matches!(
            parse_task(r#"{"resourceType":"Patient"}"#),
            Err(TaskError::NotATask(_))
        ));
        assert!(matches!(parse_task("[1]"), Err(TaskError::Json(_))));
        assert!(matches!(parse_task("{"), Err(TaskError::Json(_))));
    }
}
