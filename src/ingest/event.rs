//! One log event, and how a record (an NDJSON line, a CSV row or a Parquet row) becomes one or is
//! rejected with a reason. The reason never quotes the content: a line may hold a BSN.

use crate::fhir::task::{Task, TaskError, parse_task, short_json_error};
use crate::time::{TsError, parse_rfc3339};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Sent,
    Received,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Sent => "sent",
            Side::Received => "received",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    Notify,
    Cancel,
    GetWorkflowTask,
    Search,
    Read,
    Push,
    PushProcessed,
}

impl Interaction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "notify" => Interaction::Notify,
            "cancel" => Interaction::Cancel,
            "get-workflow-task" => Interaction::GetWorkflowTask,
            "search" => Interaction::Search,
            "read" => Interaction::Read,
            "push" => Interaction::Push,
            "push-processed" => Interaction::PushProcessed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interaction::Notify => "notify",
            Interaction::Cancel => "cancel",
            Interaction::GetWorkflowTask => "get-workflow-task",
            Interaction::Search => "search",
            Interaction::Read => "read",
            Interaction::Push => "push",
            Interaction::PushProcessed => "push-processed",
        }
    }

    pub fn is_pull(self) -> bool {
        matches!(
            self,
            Interaction::GetWorkflowTask | Interaction::Search | Interaction::Read
        )
    }
}

/// Where an event came from: the input file (index into the run's file list) and line (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: u32,
    pub line: u64,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub side: Side,
    pub origin: Origin,
    pub ts: i64,
    pub interaction: Interaction,
    pub status: Option<u16>,
    pub has_error: bool,
    pub task: Option<Box<Task>>,
    pub notification: Option<String>,
    /// As written; normalised later, when the sender base is known.
    pub request: Option<String>,
    pub body: Option<Box<Task>>,
    pub bsn_in_assertion: Option<bool>,
    pub assertion_bsn: Option<String>,
    pub sender_base: Option<String>,
    pub message: Option<String>,
    pub outcome: Option<String>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
}

impl Event {
    pub fn is_success(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }

    /// The notification this event concerns: the Task identifier for notify/cancel, else the field.
    pub fn notification_key(&self) -> Option<&str> {
        match self.interaction {
            Interaction::Notify | Interaction::Cancel => {
                self.task.as_ref().and_then(|t| t.identifier.as_deref())
            }
            _ => self.notification.as_deref(),
        }
    }
}

/// Why a record was set aside. The text names fields and positions, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    InvalidUtf8,
    InvalidJson(String),
    NotAnObject,
    MissingField(&'static str),
    BadFieldType(&'static str),
    UnknownInteraction,
    TimestampWithoutOffset,
    BadTimestamp,
    BadStatus,
    BadTask(&'static str, String),
    BadOutcome,
    LineTooLong(usize),
    Unreadable(String),
}

impl RejectReason {
    /// A stable short code, for grouping in the `rejects` table.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::InvalidUtf8 => "invalid-utf8",
            RejectReason::InvalidJson(_) => "invalid-json",
            RejectReason::NotAnObject => "not-an-object",
            RejectReason::MissingField(_) => "missing-field",
            RejectReason::BadFieldType(_) => "bad-field-type",
            RejectReason::UnknownInteraction => "unknown-interaction",
            RejectReason::TimestampWithoutOffset => "timestamp-without-offset",
            RejectReason::BadTimestamp => "bad-timestamp",
            RejectReason::BadStatus => "bad-status",
            RejectReason::BadTask(..) => "bad-task",
            RejectReason::BadOutcome => "bad-outcome",
            RejectReason::LineTooLong(_) => "line-too-long",
            RejectReason::Unreadable(_) => "unreadable",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::InvalidUtf8 => write!(f, "the line is not valid UTF-8"),
            RejectReason::InvalidJson(e) => write!(f, "not valid JSON ({e})"),
            RejectReason::NotAnObject => write!(f, "the line is not a JSON object"),
            RejectReason::MissingField(n) => write!(f, "required field '{n}' is missing"),
            RejectReason::BadFieldType(n) => write!(f, "field '{n}' has the wrong type"),
            RejectReason::UnknownInteraction => write!(
                f,
                "unknown interaction (expected notify, cancel, get-workflow-task, search, read, push or push-processed)"
            ),
            RejectReason::TimestampWithoutOffset => {
                write!(f, "'ts' has no UTC offset (RFC 3339 needs Z or +hh:mm)")
            }
            RejectReason::BadTimestamp => write!(f, "'ts' is not an RFC 3339 timestamp"),
            RejectReason::BadStatus => write!(f, "'status' is not an HTTP status code or null"),
            RejectReason::BadTask(field, e) => write!(f, "'{field}' is not a readable Task: {e}"),
            RejectReason::BadOutcome => write!(f, "'outcome' must be 'accepted' or 'rejected'"),
            RejectReason::LineTooLong(n) => write!(f, "the line is {n} bytes, over the limit"),
            RejectReason::Unreadable(e) => write!(f, "{e}"),
        }
    }
}

/// A field of a record: raw JSON (NDJSON) or text (CSV, Parquet cast to text).
#[derive(Clone, Copy)]
pub enum Field<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// Access to a record's fields by contract name.
pub trait Record {
    fn field(&self, name: &'static str) -> Option<Field<'_>>;
}

/// The NDJSON shape: every contract field kept as raw JSON, unknown fields skipped.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default)]
pub struct JsonRecord<'a> {
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) ts: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) interaction: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) status: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) error: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) task: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) notification: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) request: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) body: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) bsn_in_assertion: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) assertion_bsn: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) sender_base: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) message: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) outcome: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) sender: Option<&'a RawValue>,
    #[serde(borrow, deserialize_with = "present")]
    pub(crate) receiver: Option<&'a RawValue>,
}

impl Record for JsonRecord<'_> {
    fn field(&self, name: &'static str) -> Option<Field<'_>> {
        let v = match name {
            "ts" => self.ts,
            "interaction" => self.interaction,
            "status" => self.status,
            "error" => self.error,
            "task" => self.task,
            "notification" => self.notification,
            "request" => self.request,
            "body" => self.body,
            "bsn_in_assertion" => self.bsn_in_assertion,
            "assertion_bsn" => self.assertion_bsn,
            "sender_base" => self.sender_base,
            "message" => self.message,
            "outcome" => self.outcome,
            "sender" => self.sender,
            "receiver" => self.receiver,
            _ => None,
        };
        v.map(Field::Json)
    }
}

/// Keeps a field that is present as raw JSON, `null` included (serde would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parses one NDJSON line into an event.
pub fn parse_json_line(side: Side, origin: Origin, line: &[u8]) -> Result<Event, RejectReason> {
    let text = std::str::from_utf8(line).map_err(|_| RejectReason::InvalidUtf8)?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(
            if serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok() {
                RejectReason::NotAnObject
            } else {
                RejectReason::InvalidJson("the line does not start with '{'".into())
            },
        );
    }
    let rec: JsonRecord =
        serde_json::from_str(text).map_err(|e| RejectReason::InvalidJson(short_json_error(&e)))?;
    from_record(side, origin, &rec)
}

fn is_null(f: &Field) -> bool {
    match f {
        Field::Json(r) => r.get() == "null",
        Field::Text(t) => t.trim().is_empty(),
    }
}

/// A text field: a JSON string (or number), or CSV text. Empty and null are absent.
fn text(rec: &dyn Record, name: &'static str) -> Result<Option<String>, RejectReason> {
    let Some(f) = rec.field(name) else {
        return Ok(None);
    };
    if is_null(&f) {
        return Ok(None);
    }
    let s = match f {
        Field::Text(t) => t.to_owned(),
        Field::Json(raw) => {
            let g = raw.get();
            if g.starts_with('"') {
                serde_json::from_str::<String>(g).map_err(|_| RejectReason::BadFieldType(name))?
            } else if g.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                g.to_owned()
            } else {
                return Err(RejectReason::BadFieldType(name));
            }
        }
    };
    let s = s.trim();
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

fn flag(rec: &dyn Record, name: &'static str) -> Result<Option<bool>, RejectReason> {
    let Some(f) = rec.field(name) else {
        return Ok(None);
    };
    if is_null(&f) {
        return Ok(None);
    }
    let s = match f {
        Field::Json(raw) => raw.get().trim_matches('"').to_ascii_lowercase(),
        Field::Text(t) => t.trim().to_ascii_lowercase(),
    };
    match s.as_str() {
        "true" | "1" | "yes" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(RejectReason::BadFieldType(name)),
    }
}

/// A Task field: a JSON object, or JSON text (CSV, Parquet, or a JSON string holding JSON).
fn task_field(rec: &dyn Record, name: &'static str) -> Result<Option<Task>, RejectReason> {
    let Some(f) = rec.field(name) else {
        return Ok(None);
    };
    if is_null(&f) {
        return Ok(None);
    }
    let owned;
    let json: &str = match f {
        Field::Json(raw) if raw.get().starts_with('"') => {
            owned = serde_json::from_str::<String>(raw.get())
                .map_err(|_| RejectReason::BadFieldType(name))?;
            &owned
        }
        Field::Json(raw) => raw.get(),
        Field::Text(t) => t,
    };
    match parse_task(json) {
        Ok(t) => Ok(Some(t)),
        Err(TaskError::Json(e)) => Err(RejectReason::BadTask(name, e)),
        Err(e @ TaskError::NotATask(_)) => Err(RejectReason::BadTask(name, e.to_string())),
    }
}

fn status(rec: &dyn Record) -> Result<Option<u16>, RejectReason> {
    let Some(f) = rec.field("status") else {
        return Ok(None);
    };
    if is_null(&f) {
        return Ok(None);
    }
    let s = match f {
        Field::Json(raw) => raw.get().trim_matches('"'),
        Field::Text(t) => t.trim(),
    };
    // Parquet and CSV tools sometimes write integers as `200.0`.
    let s = s.strip_suffix(".0").unwrap_or(s);
    match s.parse::<u16>() {
        Ok(n) if (100..=599).contains(&n) => Ok(Some(n)),
        _ => Err(RejectReason::BadStatus),
    }
}

/// Builds an event from any record source, checking the contract's required fields.
pub fn from_record(side: Side, origin: Origin, rec: &dyn Record) -> Result<Event, RejectReason> {
    let ts_text = text(rec, "ts")
        .map_err(|_| RejectReason::BadTimestamp)?
        .ok_or(RejectReason::MissingField("ts"))?;
    let ts = parse_rfc3339(&ts_text).map_err(|e| match e {
        TsError::NoOffset => RejectReason::TimestampWithoutOffset,
        TsError::Invalid => RejectReason::BadTimestamp,
    })?;
    let interaction = text(rec, "interaction")?.ok_or(RejectReason::MissingField("interaction"))?;
    let interaction = Interaction::parse(&interaction).ok_or(RejectReason::UnknownInteraction)?;

    // `status` is required (null allowed) for all but push-processed.
    let status_present = rec.field("status").is_some();
    if interaction != Interaction::PushProcessed && !status_present {
        return Err(RejectReason::MissingField("status"));
    }
    let status = status(rec)?;
    let task = task_field(rec, "task")?;
    let body = task_field(rec, "body")?;
    let notification = text(rec, "notification")?;
    let request = text(rec, "request")?;
    let message = text(rec, "message")?;
    let outcome = text(rec, "outcome")?;
    let sender = text(rec, "sender")?;
    let receiver = text(rec, "receiver")?;

    match interaction {
        Interaction::Notify | Interaction::Cancel => {
            if task.is_none() {
                return Err(RejectReason::MissingField("task"));
            }
        }
        Interaction::GetWorkflowTask | Interaction::Search | Interaction::Read => {
            if notification.is_none() {
                return Err(RejectReason::MissingField("notification"));
            }
            if request.is_none() {
                return Err(RejectReason::MissingField("request"));
            }
        }
        Interaction::Push => {
            if message.is_none() {
                return Err(RejectReason::MissingField("message"));
            }
        }
        Interaction::PushProcessed => {
            if message.is_none() {
                return Err(RejectReason::MissingField("message"));
            }
            match outcome.as_deref() {
                Some("accepted" | "rejected") => {}
                None => return Err(RejectReason::MissingField("outcome")),
                Some(_) => return Err(RejectReason::BadOutcome),
            }
        }
    }

    let has_error = rec.field("error").is_some_and(|f| !is_null(&f));
    Ok(Event {
        side,
        origin,
        ts,
        interaction,
        status,
        has_error,
        task: task.map(Box::new),
        notification,
        request,
        body: body.map(Box::new),
        bsn_in_assertion: flag(rec, "bsn_in_assertion")?,
        assertion_bsn: text(rec, "assertion_bsn")?,
        sender_base: text(rec, "sender_base")?,
        message,
        outcome,
        sender,
        receiver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: Origin = Origin { file: 0, line: 1 };

    fn parse(line: &str) -> Result<Event, RejectReason> {
        parse_json_line(Side::Received, O, line.as_bytes())
    }

    #[test]
    fn reads_a_pull() {
        let e = parse(r#"{"ts":"2026-11-19T10:00:00+01:00","interaction":"read","status":200,"notification":"s|v","request":"Patient/1","extra":{"x":[1]}}"#).unwrap();
        assert_eq!(e.interaction, Interaction::Read);
        assert_eq!(e.status, Some(200));
        assert_eq!(e.notification_key(), Some("s|v"));
    }

    #[test]
    fn reject_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xff\xfe{}", "invalid-utf8"),
            (b"{\"ts\":", "invalid-json"),
            (b"[1,2]", "not-an-object"),
            (br#"{"interaction":"read","status":200}"#, "missing-field"),
            (br#"{"ts":"2026-11-19T10:00:00Z","interaction":"fetch","status":200}"#, "unknown-interaction"),
            (br#"{"ts":"2026-11-19T10:00:00","interaction":"read","status":200}"#, "timestamp-without-offset"),
            (br#"{"ts":"gisteren","interaction":"read","status":200}"#, "bad-timestamp"),
            (br#"{"ts":"2026-11-19T10:00:00Z","interaction":"read","status":"ok","notification":"a","request":"b"}"#, "bad-status"),
            (br#"{"ts":"2026-11-19T10:00:00Z","interaction":"notify","status":201,"task":"{not json"}"#, "bad-task"),
            (br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push-processed","message":"m","outcome":"maybe"}"#, "bad-outcome"),
            (br#"{"ts":"2026-11-19T10:00:00Z","interaction":"read","status":200,"notification":["a"],"request":"b"}"#, "bad-field-type"),
        ];
        for (line, code) in cases {
            let r = parse_json_line(Side::Sent, O, line).unwrap_err();
            assert_eq!(r.code(), *code, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn status_may_be_null_but_not_absent() {
        let ok = parse(r#"{"ts":"2026-11-19T10:00:00Z","interaction":"read","status":null,"error":"timeout","notification":"a","request":"b"}"#).unwrap();
        assert_eq!(ok.status, None);
        assert!(ok.has_error);
        let e = parse(r#"{"ts":"2026-11-19T10:00:00Z","interaction":"read","notification":"a","request":"b"}"#).unwrap_err();
        assert_eq!(e, RejectReason::MissingField("status"));
    }
}
