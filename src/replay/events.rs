//! The replayed received log: every attempt that sent a request becomes a received-log event
//! (`ts`, `interaction`, `status`, `notification`, `request`, `error`), so that the next reconcile
//! counts the replays as pulls. A successful `get-workflow-task` carries a `body` with the Task's
//! status and its request inputs only (no `for`, no authorization-base). When the replay acts on a
//! notification that the receiver never logged (a notification-level finding), it first writes a
//! `notify` event with the Task stripped the same way: the receiver now holds the notification.
//! Every event carries `"replayed_by": "pullrecon"` (a field the contract ignores).

use crate::fhir::task::{RequestKind, Task};
use serde_json::{Value, json};

const PARAM: &str = "http://fhir.nl/fhir/NamingSystem/TaskParameter";

fn identifier(key: &str) -> Value {
    match key.split_once('|') {
        Some((system, value)) => json!({"system": system, "value": value}),
        None => json!({"value": key}),
    }
}

fn inputs(task: &Task) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &task.requests {
        let code = r.code.clone().unwrap_or_else(|| match r.kind {
            RequestKind::Read => "read-available-resource".into(),
            _ => "query-available-resources".into(),
        });
        let ty = json!({"coding": [{"system": PARAM, "code": code}]});
        out.push(match r.kind {
            RequestKind::Read => json!({"type": ty, "valueReference": {"reference": r.raw}}),
            _ => json!({"type": ty, "valueString": r.raw}),
        });
    }
    if let Some(flag) = task.get_workflow_task {
        out.push(json!({"type": {"coding": [{"system": PARAM, "code": "get-workflow-task"}]}, "valueBoolean": flag}));
    }
    out
}

/// A Notification Task without `for` and without authorization-base, for a replayed `notify`.
pub fn notify_task(t: &Task) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("resourceType".into(), json!("Task"));
    if let Some(id) = &t.identifier {
        o.insert("identifier".into(), json!([identifier(id)]));
    }
    if let Some(g) = &t.group {
        o.insert("groupIdentifier".into(), identifier(g));
    }
    if let Some(s) = &t.status {
        o.insert("status".into(), json!(s));
    }
    if let Some(s) = &t.intent {
        o.insert("intent".into(), json!(s));
    }
    if let Some((system, code)) = &t.code {
        let mut c = json!({"code": code});
        if let Some(system) = system {
            c["system"] = json!(system);
        }
        o.insert("code".into(), json!({"coding": [c]}));
    }
    if let Some(b) = &t.based_on {
        o.insert(
            "basedOn".into(),
            json!([{"reference": format!("Task/{b}")}]),
        );
    }
    if let Some(a) = t.authored_on {
        o.insert("authoredOn".into(), json!(crate::time::format_ts(a)));
    }
    let mut requester = serde_json::Map::new();
    if let Some(a) = &t.sender_agent {
        requester.insert("agent".into(), json!({"identifier": identifier(a)}));
    }
    if let Some(org) = &t.sender_org {
        requester.insert("onBehalfOf".into(), json!({"identifier": identifier(org)}));
    }
    if !requester.is_empty() {
        o.insert("requester".into(), Value::Object(requester));
    }
    if let Some(r) = &t.receiver_org {
        o.insert("owner".into(), json!({"identifier": identifier(r)}));
    }
    if let Some(e) = t.expires {
        o.insert(
            "restriction".into(),
            json!({"period": {"end": crate::time::format_ts(e)}}),
        );
    }
    o.insert("input".into(), Value::Array(inputs(t)));
    Value::Object(o)
}

/// The `body` of a replayed `get-workflow-task`: the Task's id, status and request inputs only.
pub fn workflow_body(t: &Task) -> Value {
    let mut v = json!({"resourceType": "Task", "input": inputs(&Task {
        requests: t.requests.clone(),
        ..Task::default()
    })});
    if let Some(id) = &t.id {
        v["id"] = json!(id);
    }
    if let Some(s) = &t.status {
        v["status"] = json!(s);
    }
    v
}

/// One pull event line.
pub fn pull_event(
    ts: i64,
    kind: &RequestKind,
    status: Option<u16>,
    notification: &str,
    request: &str,
    error: Option<&str>,
    body: Option<Value>,
) -> String {
    let mut e = json!({
        "ts": crate::time::format_ts(ts),
        "interaction": kind.as_str(),
        "status": status,
        "notification": notification,
        "request": request,
        "replayed_by": "pullrecon",
    });
    if let Some(err) = error {
        e["error"] = json!(err);
    }
    if let Some(b) = body {
        e["body"] = b;
    }
    e.to_string()
}

/// The `notify` event line for a notification the replay takes in.
pub fn notify_event(ts: i64, task: &serde_json::value::RawValue) -> String {
    /// The line, its Task copied as it is (`json!` would parse it into a tree first).
    #[derive(serde::Serialize)]
    struct Line<'a> {
        interaction: &'static str,
        replayed_by: &'static str,
        status: Option<u16>,
        task: &'a serde_json::value::RawValue,
        ts: String,
    }
    serde_json::to_string(&Line {
        interaction: "notify",
        replayed_by: "pullrecon",
        status: None,
        task,
        ts: crate::time::format_ts(ts),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripped_tasks_hold_no_patient_and_no_credential() {
        let t = crate::fhir::task::parse_task(
            r#"{"resourceType":"Task","id":"wf","status":"in-progress",
            "identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:uuid:1"}],
            "groupIdentifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:g"},
            "intent":"proposal","for":{"identifier":{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"172642863"}},
            "code":{"coding":[{"system":"http://fhir.nl/fhir/NamingSystem/TaskCode","code":"pull-notification"}]},
            "input":[{"type":{"coding":[{"code":"authorization-base"}]},"valueString":"c2VjcmV0"},
              {"type":{"coding":[{"code":"read-resource"}]},"valueReference":{"reference":"Patient/1"}},
              {"type":{"coding":[{"code":"search-resource"}]},"valueString":"Observation?code=x"}]}"#,
        )
        .unwrap();
        for v in [notify_task(&t), workflow_body(&t)] {
            let text = v.to_string();
            assert!(
                !text.contains("172642863") && !text.contains("c2VjcmV0"),
                "{text}"
            );
            let back = crate::fhir::task::parse_task(&text).unwrap();
            assert_eq!(back.requests, t.requests);
        }
        // The replayed notify line carries that Task as it is, beside the contract's fields.
        let raw = serde_json::value::to_raw_value(&notify_task(&t)).unwrap();
        let line: Value = serde_json::from_str(&notify_event(1_763_625_600_000_000, &raw)).unwrap();
        assert_eq!(line["interaction"], "notify");
        assert_eq!(line["status"], Value::Null);
        assert_eq!(line["replayed_by"], "pullrecon");
        assert_eq!(line["ts"], "2025-11-20T08:00:00Z");
        assert_eq!(line["task"], notify_task(&t));
        let n = crate::fhir::task::parse_task(&notify_task(&t).to_string()).unwrap();
        assert_eq!(n.identifier, t.identifier);
        assert_eq!(n.group, t.group);
        assert_eq!(
            n.malformations(),
            t.malformations(),
            "as well-formed as the original"
        );
        assert_eq!(
            (n.code, n.sender_org),
            (t.code.clone(), t.sender_org.clone())
        );
        assert_eq!(
            crate::fhir::task::parse_task(&workflow_body(&t).to_string())
                .unwrap()
                .status
                .as_deref(),
            Some("in-progress")
        );
    }
}
