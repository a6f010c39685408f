//! What an answer means. A 2xx is a success only when its body is a FHIR resource of the
//! expected kind (a read: the request's resource type; a search: a Bundle; the Workflow Task: a
//! Task), else `invalid-body`. 408, 429, 5xx, timeouts and connection errors are transient; 400,
//! 404, 410 (and other 4xx) permanent; 401 and 403 ask for a fresh token.

use crate::fhir::task::RequestKind;
use serde_json::Value;

/// The class of one attempt, as written in `replay_attempts.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Class {
    Success,
    InvalidBody,
    Transient,
    Permanent,
    Auth,
    /// Refused for safety (redirect or `next` link to another origin).
    Refused,
    /// The body was larger than `max_body`.
    TooLarge,
    /// No request was sent for the item (refused, parked or deferred before sending).
    #[default]
    NotSent,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::InvalidBody => "invalid-body",
            Class::Transient => "transient",
            Class::Permanent => "permanent",
            Class::Auth => "auth",
            Class::Refused => "refused",
            Class::TooLarge => "too-large",
            Class::NotSent => "not-sent",
        }
    }

    /// Counts towards a host's circuit breaker.
    pub fn is_transient(self) -> bool {
        self == Class::Transient
    }
}

/// The class of an HTTP status (a 2xx still needs its body checked).
pub fn of_status(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        401 | 403 => Class::Auth,
        408 | 429 | 500..=599 => Class::Transient,
        _ => Class::Permanent,
    }
}

/// The resource type a request asks for: its first path segment.
pub fn request_type(request: &str) -> &str {
    request.split(['/', '?']).next().unwrap_or_default()
}

/// Checks a 2xx body: Ok(the parsed resource) or Err(why it is not what was asked for).
pub fn check_body(kind: &RequestKind, request: &str, body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not JSON ({})",
            crate::fhir::task::short_json_error(&e)
        )
    })?;
    let Some(rt) = v.get("resourceType").and_then(Value::as_str) else {
        return Err("the body is not a FHIR resource (no resourceType)".into());
    };
    let want = match kind {
        RequestKind::Read => request_type(request),
        RequestKind::Search => "Bundle",
        RequestKind::WorkflowTask => "Task",
    };
    if rt != want {
        return Err(format!(
            "expected a {want}, got a {}",
            rt.chars().take(40).collect::<String>()
        ));
    }
    Ok(v)
}

/// The resources a successful answer carries: the resource of a read, the `entry[].resource` of a
/// search page (except OperationOutcome entries with search mode `outcome`).
pub fn resources(kind: &RequestKind, v: &Value) -> Vec<Value> {
    match kind {
        RequestKind::Search => v
            .get("entry")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| {
                        e.pointer("/search/mode").and_then(Value::as_str) != Some("outcome")
                    })
                    .filter_map(|e| e.get("resource").cloned())
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![v.clone()],
    }
}

/// The `next` link of a Bundle page, if any.
pub fn next_link(v: &Value) -> Option<String> {
    v.get("link")?
        .as_array()?
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for (s, c) in [
            (200, Class::Success),
            (204, Class::Success),
            (401, Class::Auth),
            (403, Class::Auth),
            (408, Class::Transient),
            (429, Class::Transient),
            (503, Class::Transient),
            (400, Class::Permanent),
            (404, Class::Permanent),
            (410, Class::Permanent),
            (422, Class::Permanent),
        ] {
            assert_eq!(of_status(s), c, "{s}");
        }
    }

    #[test]
    fn bodies_of_the_expected_kind() {
        let obs = br#"{"resourceType":"Observation","id":"1"}"#;
        assert!(check_body(&RequestKind::Read, "Observation/1", obs).is_ok());
        assert!(check_body(&RequestKind::Read, "Patient/1", obs).is_err());
        assert!(check_body(&RequestKind::Search, "Observation?x=1", obs).is_err());
        assert!(check_body(&RequestKind::WorkflowTask, "Task/1", b"<html>").is_err());
        let b = br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation"}},
            {"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}],
            "link":[{"relation":"self","url":"a"},{"relation":"next","url":"b"}]}"#;
        let v = check_body(&RequestKind::Search, "Observation", b).unwrap();
        assert_eq!(resources(&RequestKind::Search, &v).len(), 1);
        assert_eq!(next_link(&v).as_deref(), Some("b"));
    }
}
