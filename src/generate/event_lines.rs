//! One log line per event, in the contract's format: notifies, cancels, pulls and pushes, with
//! timestamps written the ways real logs write them (UTC, local with offset, milliseconds).

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use std::fmt::Write;

/// `"ts":"…"` in UTC with milliseconds (the sender's style).
pub fn utc(us: i64) -> String {
    Utc.timestamp_micros(us)
        .single()
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Dutch local time with offset and milliseconds (the receiver's style).
pub fn local_ms(us: i64) -> String {
    Utc.timestamp_micros(us)
        .single()
        .map(|d| {
            d.with_timezone(&Amsterdam)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// Dutch local time with offset, whole seconds (how FHIR dateTimes are usually written).
pub fn local_seconds(us: i64) -> String {
    Utc.timestamp_micros(us)
        .single()
        .map(|d| {
            d.with_timezone(&Amsterdam)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// The UTC date of an instant.
pub fn date(us: i64) -> String {
    Utc.timestamp_micros(us)
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A status as JSON: a number or `null`.
pub fn status(s: Option<u16>) -> String {
    s.map_or("null".to_owned(), |v| v.to_string())
}

/// A canned error text for a status (or for no answer).
pub fn error_text(s: Option<u16>) -> Option<&'static str> {
    match s {
        None => Some("timeout after 30s"),
        Some(200..=299) => None,
        Some(404) => Some("OperationOutcome: resource not found"),
        Some(410) => Some("Gone: notification cancelled"),
        Some(502) => Some("Bad Gateway"),
        Some(503) => Some("Service Unavailable"),
        Some(_) => Some("OperationOutcome: error"),
    }
}

fn error_field(s: Option<u16>) -> String {
    error_text(s).map_or(String::new(), |e| format!(",\"error\":\"{e}\""))
}

/// A sent-log notify.
pub fn sent_notify(
    ts: i64,
    st: Option<u16>,
    task: &str,
    base: &str,
    assertion: Option<bool>,
    assertion_bsn: Option<&str>,
) -> String {
    let mut s = format!(
        "{{\"ts\":\"{}\",\"interaction\":\"notify\",\"status\":{}{},\"task\":{task},\"sender_base\":\"{base}\"",
        utc(ts),
        status(st),
        error_field(st)
    );
    if let Some(a) = assertion {
        let _ = write!(s, ",\"bsn_in_assertion\":{a}");
    }
    if let Some(b) = assertion_bsn {
        let _ = write!(s, ",\"assertion_bsn\":\"{b}\"");
    }
    s.push('}');
    s
}

/// A received-log notify.
pub fn received_notify(ts: i64, st: Option<u16>, task: &str) -> String {
    format!(
        "{{\"ts\":\"{}\",\"interaction\":\"notify\",\"status\":{},\"task\":{task}}}",
        local_ms(ts),
        status(st)
    )
}

/// A cancel in either log (sender style UTC, receiver style local time).
pub fn cancel(ts: i64, st: Option<u16>, body: &str, sender_side: bool) -> String {
    let t = if sender_side { utc(ts) } else { local_ms(ts) };
    format!(
        "{{\"ts\":\"{t}\",\"interaction\":\"cancel\",\"status\":{}{},\"task\":{body}}}",
        status(st),
        error_field(st)
    )
}

/// A receiver's pull (`get-workflow-task`, `search`, `read`), with a Workflow Task `body`.
pub fn pull(
    ts: i64,
    interaction: &str,
    st: Option<u16>,
    notification: &str,
    request: &str,
    duration_ms: u32,
    body: Option<&str>,
) -> String {
    let mut s = format!(
        "{{\"ts\":\"{}\",\"interaction\":\"{interaction}\",\"status\":{}{},\"notification\":\"{notification}\",\"request\":\"{request}\"",
        utc(ts),
        status(st),
        error_field(st)
    );
    if st.is_some() {
        let _ = write!(s, ",\"duration_ms\":{duration_ms}");
    }
    if let Some(b) = body {
        let _ = write!(s, ",\"body\":{b}");
    }
    s.push('}');
    s
}

/// A push (either log).
pub fn push(ts: i64, st: Option<u16>, message: &str, sender: &str, receiver: &str) -> String {
    format!(
        "{{\"ts\":\"{}\",\"interaction\":\"push\",\"status\":{}{},\"message\":\"urn:uuid:{message}\",\"sender\":\"{sender}\",\"receiver\":\"{receiver}\"}}",
        utc(ts),
        status(st),
        error_field(st)
    )
}

/// The receiver's review of a pushed message.
pub fn push_processed(
    ts: i64,
    message: &str,
    outcome: &str,
    sender: &str,
    receiver: &str,
) -> String {
    format!(
        "{{\"ts\":\"{}\",\"interaction\":\"push-processed\",\"message\":\"urn:uuid:{message}\",\"outcome\":\"{outcome}\",\"sender\":\"{sender}\",\"receiver\":\"{receiver}\"}}",
        utc(ts)
    )
}
