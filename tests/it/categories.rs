//! One table-driven test per finding category (every rule in `checks::RULES`). Each table is a list
//! of `(name, Story, expected)` cases: `expected` is the exact list of findings of that category,
//! as `(notification, request)` pairs (push findings also name their message), with `replayable`
//! and detail checks where they matter. Every table mixes positive cases with near misses, and the
//! stories are built from the real example Tasks in `tests/fixtures/fhir-examples` with their quirks.
//!
//! The expected values follow `docs/SEMANTICS.md`; a case marked `// BUG:` expects what SEMANTICS
//! says and fails until the implementation follows it.
//!
//! Times: `AS_OF` is 2026-11-20T05:00:00Z, grace 15m (so `as_of − grace` = 04:45:00Z), lookback
//! 30d, push SLA 24h.

use crate::common::{self, *};
use serde_json::{Value, json};

// ---- times ----

const SEND: &str = "2026-11-19T09:00:00Z";
const RECV: &str = "2026-11-19T09:00:01Z";
const PULL: &str = "2026-11-19T09:01:00Z";
const PULL_2: &str = "2026-11-19T09:01:01Z";
const PULL_3: &str = "2026-11-19T09:01:02Z";
const LATER: &str = "2026-11-19T12:00:00Z";
const LATER_RECV: &str = "2026-11-19T12:00:01Z";
const AFTER_CANCEL: &str = "2026-11-19T13:00:00Z";
const AFTER_CANCEL_2: &str = "2026-11-19T13:05:00Z";
const AFTER_CANCEL_3: &str = "2026-11-19T13:10:00Z";
/// Younger than the grace period at `AS_OF`.
const IN_GRACE: &str = "2026-11-20T04:50:00Z";
/// Exactly `as_of − grace`: old enough to be judged.
const GRACE_EDGE: &str = "2026-11-20T04:45:00Z";
const AFTER_AS_OF: &str = "2026-11-20T05:30:00Z";
/// Before `as_of − lookback` (2026-10-21T05:00:00Z).
const BEFORE_LOOKBACK: &str = "2026-10-15T09:00:00Z";

// ---- the example Tasks and their identifiers ----

const JORRIT_NOTIFICATION: &str =
    "jorritspee_Application-on-Nuts-Notified-Pull__Notification-Task-Template.json";
const JORRIT_WORKFLOW: &str =
    "jorritspee_Application-on-Nuts-Notified-Pull__Workflow-Task-Template.json";
/// The jorritspee template's identifier, placeholder included.
const JORRIT_KEY: &str = "https://tools.ietf.org/html/rfc4122|urn:uuid:<<UUID>>";
/// The bgz-referral notification: identifier as an object, system rfc4122.
const BGZ_KEY: &str =
    "https://tools.ietf.org/html/rfc4122|urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe";
/// Its `basedOn`, expected because its `get-workflow-task` input (system `…/TaskCodes`) is true.
const BGZ_WF: &str = "Task/Workflow-Task-123455";
/// The tanp draft's (and the CancelTask's) identifier value, under `urn:ietf:rfc:3986`.
const TANP_ID: &str = "6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe";
/// The tanp draft's requests (release 1.2 `read-resource` valueReference; a LOINC-coded search).
const TANP_READ: &str = "Observation/SomeObservation";
const TANP_SEARCH: &str = "DocumentReference?status=current";

const TASK_PARAMETER: &str = "http://fhir.nl/fhir/NamingSystem/TaskParameter";
const TASK_CODE: &str = "http://fhir.nl/fhir/NamingSystem/TaskCode";
const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

/// The Workflow Task a `with_gwt` task points at.
const WF_REQ: &str = "Task/wf-1";
/// The first three inputs of the bgz-referral Workflow Task, as written and normalised.
const WF_RAW: [&str; 3] = [
    "Patient?_include=Patient%3Ageneral-practitioner",
    "Coverage?_include=Coverage%3Apayor%3AOrganization&_include=Coverage%3Apayor%3APatient",
    "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11291000146105",
];
const WF_IN: [&str; 3] = [
    "Patient?_include=Patient:general-practitioner",
    "Coverage?_include=Coverage:payor:Organization&_include=Coverage:payor:Patient",
    "Consent?category=http://snomed.info/sct%7C11291000146105",
];

// ---- expected findings ----

#[derive(Clone, Debug)]
struct Want {
    notification: Option<String>,
    request: Option<String>,
    message: Option<String>,
    replayable: Option<bool>,
    detail: Option<&'static str>,
}

impl Want {
    fn repl(mut self, replayable: bool) -> Self {
        self.replayable = Some(replayable);
        self
    }
    fn detail(mut self, text: &'static str) -> Self {
        self.detail = Some(text);
        self
    }
}

fn want(notification: Option<&str>, request: Option<&str>) -> Want {
    Want {
        notification: notification.map(str::to_owned),
        request: request.map(str::to_owned),
        message: None,
        replayable: None,
        detail: None,
    }
}

/// A finding about the whole notification built by `common::task(id, …)`.
fn n(id: &str) -> Want {
    want(Some(&key(id)), None)
}

/// A finding about the whole notification with identifier key `k`.
fn nk(k: &str) -> Want {
    want(Some(k), None)
}

/// A finding about one request of `common::task(id, …)`.
fn r(id: &str, request: &str) -> Want {
    want(Some(&key(id)), Some(request))
}

/// A finding about one request of the notification with identifier key `k`.
fn rk(k: &str, request: &str) -> Want {
    want(Some(k), Some(request))
}

/// A finding about a notify or cancel Task without identifier (keyed by file and line).
fn unkeyed() -> Want {
    want(None, None)
}

/// A finding about a pushed message.
fn msg(m: &str) -> Want {
    Want {
        message: Some(m.to_owned()),
        ..want(None, None)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Replay {
    /// Some findings of this category may be replayable (checked per case).
    Possible,
    /// The contract says "replayable: no": every finding must have `replayable = false`.
    Never,
}

type Case = (&'static str, Story, Vec<Want>);

/// Runs every case of a table and fails once, naming every failing case.
fn check(category: &str, severity: &str, replay: Replay, cases: Vec<Case>) {
    let total = cases.len();
    let mut failures = Vec::new();
    for (name, story, wants) in cases {
        let outcome = story.run();
        let got = common::of(&outcome, category);
        let mut expected: Vec<(Option<String>, Option<String>)> = wants
            .iter()
            .map(|w| (w.notification.clone(), w.request.clone()))
            .collect();
        expected.sort();
        if got != expected {
            failures.push(format!("case `{name}`: expected {expected:?}, got {got:?}"));
            continue;
        }
        let found = common::find(&outcome, category);
        for f in &found {
            if f.severity.as_str() != severity {
                failures.push(format!(
                    "case `{name}`: severity {} instead of {severity} ({:?} {:?})",
                    f.severity.as_str(),
                    f.notification,
                    f.request
                ));
            }
            if replay == Replay::Never && f.replayable {
                failures.push(format!(
                    "case `{name}`: replayable although the category never is ({:?} {:?})",
                    f.notification, f.request
                ));
            }
        }
        let mut want_messages: Vec<String> =
            wants.iter().filter_map(|w| w.message.clone()).collect();
        if !want_messages.is_empty() {
            let mut got_messages: Vec<String> =
                found.iter().filter_map(|f| f.message.clone()).collect();
            want_messages.sort();
            got_messages.sort();
            if got_messages != want_messages {
                failures.push(format!(
                    "case `{name}`: messages expected {want_messages:?}, got {got_messages:?}"
                ));
            }
        }
        for w in &wants {
            let matching = found.iter().filter(|f| {
                f.notification == w.notification
                    && f.request == w.request
                    && (w.message.is_none() || f.message == w.message)
            });
            for f in matching {
                if let Some(rep) = w.replayable
                    && f.replayable != rep
                {
                    failures.push(format!(
                        "case `{name}`: {:?} {:?} {:?}: replayable {} instead of {rep} (detail: {})",
                        f.notification, f.request, f.message, f.replayable, f.detail
                    ));
                }
                if let Some(text) = w.detail
                    && !f.detail.contains(text)
                {
                    failures.push(format!(
                        "case `{name}`: detail {:?} lacks {text:?}",
                        f.detail
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{category}: {} of {total} case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---- Task builders ----

/// A Nuts-shaped Notification Task (`common::task`) in a group of its own.
fn t(id: &str) -> Value {
    task(id, &format!("group-{id}"))
}

/// A Nuts-shaped Notification Task in group `g`, with `authoredOn` set (or removed when `None`).
fn grouped(id: &str, authored: Option<&str>) -> Value {
    let t = task(id, "g");
    match authored {
        Some(a) => set(t, "authoredOn", json!(a)),
        None => without(t, "authoredOn"),
    }
}

fn set(mut v: Value, field: &str, value: Value) -> Value {
    v[field] = value;
    v
}

fn without(mut v: Value, field: &str) -> Value {
    v.as_object_mut().unwrap().remove(field);
    v
}

fn expiring(mut t: Value, end: &str) -> Value {
    t["restriction"]["period"]["end"] = json!(end);
    t
}

fn with_bsn(t: Value, bsn: &str) -> Value {
    set(
        t,
        "for",
        json!({"identifier": {"system": BSN_SYSTEM, "value": bsn}}),
    )
}

/// The Task without `for`: no BSN in the Notification Task.
fn no_bsn(t: Value) -> Value {
    without(t, "for")
}

fn from_org(mut t: Value, ura: &str) -> Value {
    t["requester"]["onBehalfOf"]["identifier"] =
        json!({"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": ura});
    t
}

fn code(mut t: Value, system: Option<&str>, code: &str) -> Value {
    t["code"] = match system {
        Some(s) => json!({"coding": [{"system": s, "code": code}]}),
        None => json!({"coding": [{"code": code}]}),
    };
    t
}

fn input_str(code: &str, text: &str) -> Value {
    json!({"type": {"coding": [{"system": TASK_PARAMETER, "code": code}]}, "valueString": text})
}

fn input_ref(code: &str, reference: &str) -> Value {
    json!({"type": {"coding": [{"system": TASK_PARAMETER, "code": code}]},
           "valueReference": {"reference": reference}})
}

fn input_bool(code: &str, flag: bool) -> Value {
    json!({"type": {"coding": [{"system": TASK_PARAMETER, "code": code}]}, "valueBoolean": flag})
}

/// The Task with these inputs (after its `authorization-base`) instead of its read and search.
fn inputs(mut t: Value, more: Vec<Value>) -> Value {
    let mut all = vec![input_str("authorization-base", AUTH_BASE)];
    all.extend(more);
    t["input"] = Value::Array(all);
    t
}

/// Adds `get-workflow-task = true` and `basedOn` to a Task.
fn with_gwt(mut t: Value, based_on: &str) -> Value {
    t["basedOn"] = json!([{"reference": based_on}]);
    t["input"]
        .as_array_mut()
        .unwrap()
        .push(input_bool("get-workflow-task", true));
    t
}

fn bgz() -> Value {
    example(BGZ_NOTIFICATION)
}

/// The bgz-referral notification with its identifier object wrapped in an array.
fn bgz_as_array() -> Value {
    let b = bgz();
    let id = b["identifier"].clone();
    set(b, "identifier", json!([id]))
}

/// The tanp draft NewTask as written (restriction end 2023-10-14: expired).
fn tanp() -> Value {
    example(TANP_NEW)
}

/// The tanp draft NewTask with an end after `AS_OF`.
fn tanp_live() -> Value {
    expiring(tanp(), "2026-12-03T08:00:00+01:00")
}

fn jorrit() -> Value {
    example(JORRIT_NOTIFICATION)
}

/// The bgz-referral Workflow Task with another status, optionally only its first `keep` inputs and
/// a BSN in `for.identifier`.
fn wf_body(status: &str, keep: Option<usize>, bsn: Option<&str>) -> Value {
    let mut w = example(BGZ_WORKFLOW);
    w["status"] = json!(status);
    if let Some(k) = keep {
        w["input"].as_array_mut().unwrap().truncate(k);
    }
    if let Some(b) = bsn {
        w["for"] = json!({"reference": "Patient/XXX-Hondius",
                          "identifier": {"system": BSN_SYSTEM, "value": b}});
    }
    w
}

// ---- event builders ----

/// A pull for the notification with identifier key `k`.
fn pull_k(ts: &str, interaction: &str, status: Option<u16>, k: &str, request: &str) -> Value {
    let mut e = ev(ts, interaction, status);
    e["notification"] = json!(k);
    e["request"] = json!(request);
    e
}

/// A `get-workflow-task` pull carrying a Workflow Task `body`.
fn wf_pull(ts: &str, status: Option<u16>, k: &str, request: &str, body: Value) -> Value {
    let mut e = pull_k(ts, "get-workflow-task", status, k, request);
    e["body"] = body;
    e
}

/// A cancel (the tanp draft's CancelTask body) with the given `identifier` JSON.
fn cancel_k(ts: &str, status: Option<u16>, identifier: Value) -> Value {
    let mut task = example(TANP_CANCEL);
    task["identifier"] = identifier;
    let mut e = ev(ts, "cancel", status);
    e["task"] = task;
    e
}

/// The tanp draft's CancelTask exactly as written.
fn tanp_cancel(ts: &str, status: Option<u16>) -> Value {
    let mut e = ev(ts, "cancel", status);
    e["task"] = example(TANP_CANCEL);
    e
}

/// A cancel whose Task carries no identifier at all.
fn cancel_without_identifier(ts: &str, status: Option<u16>) -> Value {
    let mut e = tanp_cancel(ts, status);
    e["task"].as_object_mut().unwrap().remove("identifier");
    e
}

/// A sent-log notify whose authorization assertion did (or did not) carry a BSN.
fn assertion(mut e: Value, flag: Option<bool>, bsn: Option<&str>) -> Value {
    if let Some(f) = flag {
        e["bsn_in_assertion"] = json!(f);
    }
    if let Some(b) = bsn {
        e["assertion_bsn"] = json!(b);
    }
    e
}

fn with_field(mut e: Value, field: &str, value: &str) -> Value {
    e[field] = json!(value);
    e
}

fn push(ts: &str, status: Option<u16>, message: &str, sender: &str) -> Value {
    let mut e = ev(ts, "push", status);
    e["message"] = json!(message);
    e["sender"] = json!(sender);
    e["receiver"] = json!(RECEIVER);
    e
}

fn processed(ts: &str, message: &str, outcome: &str) -> Value {
    let mut e = json!({"ts": ts, "interaction": "push-processed"});
    e["message"] = json!(message);
    e["outcome"] = json!(outcome);
    e
}

// ---- story builders ----

/// Sent (201) and received (201), nothing pulled.
fn delivered(task: &Value) -> Story {
    Story::new()
        .sent(notify(SEND, Some(201), task))
        .received(notify(RECV, Some(201), task))
}

/// Sent with `status`, nothing in the received log.
fn sent_only(task: &Value, status: Option<u16>) -> Story {
    Story::new().sent(notify(SEND, status, task))
}

/// Read and search of `common::task(id, …)` pulled with 200.
fn pulled(s: Story, id: &str) -> Story {
    s.received(pull(PULL, "read", Some(200), id, READ))
        .received(pull(PULL_2, "search", Some(200), id, SEARCH))
}

// =============================================================================================
// Delivery
// =============================================================================================

#[test]
fn notification_undelivered() {
    let cases: Vec<Case> = vec![
        (
            "sender got 500, receiver logged nothing",
            sent_only(&t("n1"), Some(500)),
            vec![n("n1").repl(true)],
        ),
        (
            "sender got no answer (status null), receiver logged nothing",
            sent_only(&t("n1"), None),
            vec![n("n1").repl(true)],
        ),
        (
            "retried 503 then 500: one finding",
            sent_only(&t("n1"), Some(503)).sent(notify(LATER, Some(500), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "receiver refused (400 in both logs): a refusal is not a delivery",
            sent_only(&t("n1"), Some(400)).received(notify(RECV, Some(400), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "receiver logged it (201) although the sender saw 500",
            sent_only(&t("n1"), Some(500)).received(notify(RECV, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "receiver logged it with status null: counts as received",
            sent_only(&t("n1"), Some(500)).received(notify(RECV, None, &t("n1"))),
            vec![],
        ),
        (
            "receiver logged it only after as_of (ignored)",
            sent_only(&t("n1"), Some(500)).received(notify(AFTER_AS_OF, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "sender got a 2xx: notification-lost instead",
            sent_only(&t("n1"), Some(201)),
            vec![],
        ),
        (
            "sender got 500 then 201 on a retry: notification-lost instead",
            sent_only(&t("n1"), Some(500)).sent(notify(LATER, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "within grace (sent 04:50): not judged yet",
            Story::new().sent(notify(IN_GRACE, Some(500), &t("n1"))),
            vec![],
        ),
        (
            "sent exactly grace before as_of (04:45:00): judged",
            Story::new().sent(notify(GRACE_EDGE, Some(500), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "sent before the lookback window: not seen",
            Story::new().sent(notify(BEFORE_LOOKBACK, Some(500), &t("n1"))),
            vec![],
        ),
        (
            "an update (second of its group): update-missed wins",
            Story::new()
                .healthy("n1", &grouped("n1", Some("2026-11-19T08:00:00Z")))
                .sent(notify(
                    LATER,
                    Some(500),
                    &grouped("n2", Some("2026-11-19T10:00:00Z")),
                )),
            vec![],
        ),
        (
            "first of its group, superseded by a delivered update: reported, not replayable",
            Story::new()
                .sent(notify(
                    SEND,
                    Some(500),
                    &grouped("n1", Some("2026-11-19T08:00:00Z")),
                ))
                .healthy("n2", &grouped("n2", Some("2026-11-19T10:00:00Z"))),
            vec![n("n1").repl(false).detail("superseded")],
        ),
        (
            "cancelled: reported, not replayable",
            sent_only(&t("n1"), Some(500)).sent(cancel(LATER, Some(200), "n1")),
            vec![n("n1").repl(false).detail("cancelled")],
        ),
        (
            "expired (end date-only 2026-11-19): reported, not replayable",
            sent_only(&expiring(t("n1"), "2026-11-19"), Some(500)),
            vec![n("n1").repl(false).detail("expired")],
        ),
        (
            "bgz-referral example (identifier as an object), 500: replayable",
            sent_only(&bgz(), Some(500)),
            vec![nk(BGZ_KEY).repl(true)],
        ),
        (
            "tanp draft NewTask (R4 requester, end 2023): reported, not replayable",
            sent_only(&tanp(), Some(502)),
            vec![n(TANP_ID).repl(false)],
        ),
        (
            "only the receiver logged it: nothing undelivered",
            Story::new().received(notify(RECV, Some(201), &t("n1"))),
            vec![],
        ),
    ];
    check("notification-undelivered", "error", Replay::Possible, cases);
}

#[test]
fn notification_lost() {
    let cases: Vec<Case> = vec![
        (
            "sender got 201, receiver logged nothing",
            sent_only(&t("n1"), Some(201)),
            vec![n("n1").repl(true)],
        ),
        (
            "receiver refused it (400): a refusal is not a delivery",
            sent_only(&t("n1"), Some(201)).received(notify(RECV, Some(400), &t("n1"))),
            vec![n("n1").repl(true)],
        ),
        (
            "receiver refused (400), then accepted a retry (201)",
            sent_only(&t("n1"), Some(201))
                .received(notify(RECV, Some(400), &t("n1")))
                .received(notify(LATER_RECV, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "received with status null: counts as received",
            sent_only(&t("n1"), Some(201)).received(notify(RECV, None, &t("n1"))),
            vec![],
        ),
        ("received with 201", delivered(&t("n1")), vec![]),
        (
            "sender got 500 then 201 on a retry, receiver logged nothing",
            sent_only(&t("n1"), Some(500)).sent(notify(LATER, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "within grace (sent 04:50): not judged yet",
            Story::new().sent(notify(IN_GRACE, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "sent exactly grace before as_of: judged",
            Story::new().sent(notify(GRACE_EDGE, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "receipt logged after as_of is ignored",
            sent_only(&t("n1"), Some(201)).received(notify(AFTER_AS_OF, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "the receiver logged another identifier",
            sent_only(&t("n1"), Some(201)).received(notify(RECV, Some(201), &t("n2"))),
            vec![n("n1")],
        ),
        (
            "an update (second of its group) lost: update-missed wins",
            Story::new()
                .healthy("n1", &grouped("n1", Some("2026-11-19T08:00:00Z")))
                .sent(notify(
                    LATER,
                    Some(201),
                    &grouped("n2", Some("2026-11-19T10:00:00Z")),
                )),
            vec![],
        ),
        (
            "first of its group lost, superseded by a delivered update: not replayable",
            Story::new()
                .sent(notify(
                    SEND,
                    Some(201),
                    &grouped("n1", Some("2026-11-19T08:00:00Z")),
                ))
                .healthy("n2", &grouped("n2", Some("2026-11-19T10:00:00Z"))),
            vec![n("n1").repl(false)],
        ),
        (
            "cancelled (cancel only in the received log): not replayable",
            sent_only(&t("n1"), Some(201)).received(cancel(LATER, Some(200), "n1")),
            vec![n("n1").repl(false)],
        ),
        (
            "jorritspee template (placeholders; unparsable end means no expiry): replayable",
            sent_only(&jorrit(), Some(201)),
            vec![nk(JORRIT_KEY).repl(true)],
        ),
        (
            "bgz identifier as an object when sent, as an array when received: matched",
            sent_only(&bgz(), Some(201)).received(notify(RECV, Some(201), &bgz_as_array())),
            vec![],
        ),
        (
            "bgz sent 201, receiver logged nothing",
            sent_only(&bgz(), Some(201)),
            vec![nk(BGZ_KEY).repl(true)],
        ),
        (
            "tanp draft NewTask (R4-shaped requester) received: matched",
            delivered(&tanp()),
            vec![],
        ),
    ];
    check("notification-lost", "error", Replay::Possible, cases);
}

#[test]
fn update_missed() {
    let first = || grouped("n1", Some("2026-11-19T08:00:00Z"));
    let second = || grouped("n2", Some("2026-11-19T10:00:00Z"));
    let cases: Vec<Case> = vec![
        (
            "second of its group, sender 201, not received",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &second())),
            vec![n("n2").repl(true)],
        ),
        (
            "second of its group, sender 500, not received (wins over undelivered)",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(500), &second())),
            vec![n("n2").repl(true)],
        ),
        (
            "second of its group refused by the receiver (400)",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &second()))
                .received(notify(LATER_RECV, Some(400), &second())),
            vec![n("n2")],
        ),
        (
            "second of its group received",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &second()))
                .received(notify(LATER_RECV, Some(201), &second())),
            vec![],
        ),
        (
            "second of its group sent within grace",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(IN_GRACE, Some(201), &second())),
            vec![],
        ),
        (
            "first of its group not received: lost, not update-missed",
            Story::new()
                .sent(notify(SEND, Some(201), &first()))
                .sent(notify(LATER, Some(201), &second()))
                .received(notify(LATER_RECV, Some(201), &second())),
            vec![],
        ),
        (
            "middle of three not received: superseded, not replayable",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &second()))
                .healthy("n3", &grouped("n3", Some("2026-11-19T11:00:00Z"))),
            vec![n("n2").repl(false)],
        ),
        (
            "authoredOn orders the group, not the send time",
            Story::new()
                .sent(notify(
                    LATER,
                    Some(201),
                    &grouped("n1", Some("2026-11-19T07:00:00Z")),
                ))
                .healthy("n2", &grouped("n2", Some("2026-11-19T08:00:00Z"))),
            vec![],
        ),
        (
            "a missing authoredOn sorts first",
            Story::new()
                .sent(notify(LATER, Some(201), &grouped("n1", None)))
                .healthy("n2", &first()),
            vec![],
        ),
        (
            "same authoredOn: the send time decides",
            Story::new().healthy("n1", &task("n1", "g")).sent(notify(
                LATER,
                Some(201),
                &task("n2", "g"),
            )),
            vec![n("n2").repl(true)],
        ),
        (
            "a notification only the receiver logged is a group member too",
            Story::new()
                .received(notify(RECV, Some(201), &first()))
                .sent(notify(LATER, Some(201), &second())),
            vec![n("n2")],
        ),
        (
            "cancelled update: not replayable",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &second()))
                .sent(cancel(AFTER_CANCEL, Some(200), "n2")),
            vec![n("n2").repl(false)],
        ),
        (
            "expired update: not replayable",
            Story::new().healthy("n1", &first()).sent(notify(
                LATER,
                Some(201),
                &expiring(second(), "2026-11-19T23:00:00Z"),
            )),
            vec![n("n2").repl(false)],
        ),
        (
            "an update in another group is a first of its own",
            Story::new()
                .healthy("n1", &first())
                .sent(notify(LATER, Some(201), &t("n2"))),
            vec![],
        ),
    ];
    check("update-missed", "error", Replay::Possible, cases);
}

#[test]
fn notification_unknown_to_sender() {
    let cases: Vec<Case> =
        vec![
        (
            "received, absent from the sent log, which covers its sender",
            Story::new()
                .healthy("n1", &t("n1"))
                .received(notify(RECV, Some(201), &t("n2"))),
            vec![n("n2")],
        ),
        (
            "received, sent log empty: sender not covered",
            Story::new().received(notify(RECV, Some(201), &t("n2"))),
            vec![],
        ),
        (
            "received from ORG_B, the sent log covers only ORG_A",
            Story::new()
                .healthy("n1", &t("n1"))
                .received(notify(RECV, Some(201), &from_org(t("n2"), "33334444"))),
            vec![],
        ),
        ("received and sent", Story::new().healthy("n1", &t("n1")), vec![]),
        (
            "covered by a notify whose send failed (500)",
            sent_only(&t("n1"), Some(500)).received(notify(RECV, Some(201), &t("n2"))),
            vec![n("n2")],
        ),
        (
            "the covering notify is before the lookback: not covered",
            Story::new()
                .sent(notify(BEFORE_LOOKBACK, Some(201), &t("n1")))
                .received(notify(RECV, Some(201), &t("n2"))),
            vec![],
        ),
        (
            "the covering notify is after as_of: not covered",
            Story::new()
                .sent(notify(AFTER_AS_OF, Some(201), &t("n1")))
                .received(notify(RECV, Some(201), &t("n2"))),
            vec![],
        ),
        (
            "tanp draft: R4-shaped requester.identifier, covered by another notify of that sender",
            Story::new()
                .sent(notify(
                    SEND,
                    Some(201),
                    &set(
                        tanp(),
                        "identifier",
                        json!([{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:tanp-other"}]),
                    ),
                ))
                .received(notify(RECV, Some(201), &tanp())),
            vec![n(TANP_ID)],
        ),
        (
            "received but refused (400): the receiver still logged it",
            Story::new()
                .healthy("n1", &t("n1"))
                .received(notify(RECV, Some(400), &t("n2"))),
            vec![n("n2")],
        ),
        (
            // SEMANTICS [model] "The sent log *covers* an organisation when it holds at least
            // one notify … from that organisation": a notify whose Task lacks an identifier is one
            // (model.rs `add_notify` returns before recording the sender as covered).
            "covered by a sent notify whose Task has no identifier",
            Story::new()
                .sent(notify(SEND, Some(201), &without(t("n1"), "identifier")))
                .received(notify(RECV, Some(201), &t("n2"))),
            vec![n("n2")],
        ),
    ];
    check(
        "notification-unknown-to-sender",
        "warning",
        Replay::Never,
        cases,
    );
}

#[test]
fn notification_duplicate() {
    let cases: Vec<Case> = vec![
        (
            "received twice",
            delivered(&t("n1")).received(notify(LATER_RECV, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "received three times: one finding",
            delivered(&t("n1"))
                .received(notify(LATER_RECV, Some(201), &t("n1")))
                .received(notify(AFTER_CANCEL, Some(200), &t("n1"))),
            vec![n("n1")],
        ),
        ("received once", delivered(&t("n1")), vec![]),
        (
            "sent twice (retry), received once",
            delivered(&t("n1")).sent(notify(LATER, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "the same received line twice (byte-identical): counts once",
            delivered(&t("n1")).received(notify(RECV, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "received twice, once refused (400): the receiver logged two notifies",
            delivered(&t("n1")).received(notify(LATER_RECV, Some(400), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "bgz: identifier as an object and as an array are one identifier",
            delivered(&bgz()).received(notify(LATER_RECV, Some(201), &bgz_as_array())),
            vec![nk(BGZ_KEY)],
        ),
        (
            "two notifications of one group, each received once",
            Story::new()
                .healthy("n1", &task("n1", "g"))
                .sent(notify(LATER, Some(201), &task("n2", "g")))
                .received(notify(LATER_RECV, Some(201), &task("n2", "g"))),
            vec![],
        ),
        (
            "the second receipt is after as_of (ignored)",
            delivered(&t("n1")).received(notify(AFTER_AS_OF, Some(201), &t("n1"))),
            vec![],
        ),
    ];
    check("notification-duplicate", "warning", Replay::Never, cases);
}

// =============================================================================================
// The Notification Task
// =============================================================================================

#[test]
fn notification_malformed() {
    let cases: Vec<Case> = vec![
        (
            "well-formed (Nuts-shaped) Task",
            Story::new().healthy("n1", &t("n1")),
            vec![],
        ),
        (
            "status draft",
            delivered(&set(t("n1"), "status", json!("draft"))),
            vec![n("n1")],
        ),
        (
            "intent order",
            delivered(&set(t("n1"), "intent", json!("order"))),
            vec![n("n1")],
        ),
        (
            "no code",
            delivered(&without(t("n1"), "code")),
            vec![n("n1")],
        ),
        (
            "a code other than pull-notification",
            delivered(&code(t("n1"), Some(TASK_CODE), "pull-request")),
            vec![n("n1")],
        ),
        (
            "no groupIdentifier",
            delivered(&without(t("n1"), "groupIdentifier")),
            vec![n("n1")],
        ),
        (
            "no identifier: keyed by file and line",
            sent_only(&without(t("n1"), "identifier"), Some(201)),
            vec![unkeyed()],
        ),
        (
            "two notifies without identifier: two findings",
            sent_only(&without(t("n1"), "identifier"), Some(201)).sent(notify(
                LATER,
                Some(201),
                &without(t("n2"), "identifier"),
            )),
            vec![unkeyed(), unkeyed()],
        ),
        (
            "malformed only in the received-log copy",
            Story::new()
                .sent(notify(SEND, Some(201), &t("n1")))
                .received(notify(
                    RECV,
                    Some(201),
                    &set(t("n1"), "status", json!("draft")),
                )),
            vec![n("n1")],
        ),
        (
            "malformed in both copies: one finding",
            delivered(&set(t("n1"), "intent", json!("order"))),
            vec![n("n1")],
        ),
        (
            "bgz-referral example has no code at all",
            delivered(&bgz()),
            vec![nk(BGZ_KEY)],
        ),
        (
            "tanp draft: another code system is not malformed",
            delivered(&tanp_live()),
            vec![],
        ),
        (
            "pull-notification under the …/TaskCodes typo system is not malformed",
            delivered(&code(
                t("n1"),
                Some("http://fhir.nl/fhir/NamingSystem/TaskCodes"),
                "pull-notification",
            )),
            vec![],
        ),
        (
            "jorritspee template: placeholders are not malformations",
            delivered(&jorrit()),
            vec![],
        ),
        (
            "the Nuts Workflow Task sent as a notify (no identifier, no group)",
            sent_only(&example(NUTS_WORKFLOW), Some(201)),
            vec![unkeyed()],
        ),
        (
            "a cancel body (status cancelled) is not a notify",
            Story::new()
                .healthy("n1", &t("n1"))
                .sent(cancel(LATER, Some(200), "n1"))
                .received(cancel(LATER_RECV, Some(200), "n1")),
            vec![],
        ),
    ];
    check("notification-malformed", "error", Replay::Never, cases);
}

#[test]
fn task_code_system_nonstandard() {
    let cases: Vec<Case> = vec![
        (
            "the standard TaskCode system",
            Story::new().healthy("n1", &t("n1")),
            vec![],
        ),
        (
            "tanp draft: https://www.twiin.nl/tanp/CodeSystem/tanp-codes",
            delivered(&tanp_live()),
            vec![n(TANP_ID)],
        ),
        (
            "the …/TaskCodes typo",
            delivered(&code(
                t("n1"),
                Some("http://fhir.nl/fhir/NamingSystem/TaskCodes"),
                "pull-notification",
            )),
            vec![n("n1")],
        ),
        (
            "pull-notification without a system",
            delivered(&code(t("n1"), None, "pull-notification")),
            vec![n("n1")],
        ),
        (
            "another code under another system: malformed, not this",
            delivered(&code(t("n1"), Some("http://snomed.info/sct"), "3457005")),
            vec![],
        ),
        (
            "pull-notification (standard system) next to another coding",
            delivered(&set(
                t("n1"),
                "code",
                json!({"coding": [
                    {"system": "http://snomed.info/sct", "code": "3457005"},
                    {"system": TASK_CODE, "code": "pull-notification"}
                ]}),
            )),
            vec![],
        ),
        (
            "jorritspee template: standard system",
            delivered(&jorrit()),
            vec![],
        ),
        (
            "bgz-referral example: no code at all",
            delivered(&bgz()),
            vec![],
        ),
    ];
    check("task-code-system-nonstandard", "info", Replay::Never, cases);
}

#[test]
fn workflow_task_reference_missing() {
    let cases: Vec<Case> = vec![
        (
            "bgz: get-workflow-task true (system …/TaskCodes) with basedOn",
            delivered(&bgz()),
            vec![],
        ),
        (
            "bgz with basedOn removed",
            delivered(&without(bgz(), "basedOn")),
            vec![nk(BGZ_KEY)],
        ),
        (
            "get-workflow-task true, basedOn an empty array",
            delivered(&set(with_gwt(t("n1"), WF_REQ), "basedOn", json!([]))),
            vec![n("n1")],
        ),
        (
            "get-workflow-task false, no basedOn",
            delivered(&inputs(
                t("n1"),
                vec![input_bool("get-workflow-task", false)],
            )),
            vec![],
        ),
        (
            // SEMANTICS [model]: a `get-workflow-task` written as the string "true" is read as the
            // flag too (senders do write it so), so without basedOn the reference is missing.
            "get-workflow-task as valueString \"true\" counts as the flag",
            delivered(&inputs(
                t("n1"),
                vec![input_str("get-workflow-task", "true")],
            )),
            vec![n("n1")],
        ),
        (
            "no get-workflow-task input, no basedOn (Nuts-shaped)",
            delivered(&t("n1")),
            vec![],
        ),
        (
            "jorritspee template: a placeholder basedOn is present",
            delivered(&jorrit()),
            vec![],
        ),
        (
            "basedOn as an absolute URL",
            delivered(&with_gwt(
                t("n1"),
                "https://fhir.sender-a.example/fhir/Task/wf-1",
            )),
            vec![],
        ),
        (
            "a notification only the receiver logged is checked too",
            Story::new().received(notify(RECV, Some(201), &without(bgz(), "basedOn"))),
            vec![nk(BGZ_KEY)],
        ),
    ];
    check(
        "workflow-task-reference-missing",
        "error",
        Replay::Never,
        cases,
    );
}

// =============================================================================================
// Cancellation
// =============================================================================================

#[test]
fn cancellation_undelivered() {
    let bgz_id = || bgz()["identifier"].clone();
    let cases: Vec<Case> = vec![
        (
            "sender cancelled, receiver logged no cancel",
            delivered(&t("n1")).sent(cancel(LATER, Some(200), "n1")),
            vec![n("n1")],
        ),
        (
            "receiver logged the cancel (200)",
            delivered(&t("n1"))
                .sent(cancel(LATER, Some(200), "n1"))
                .received(cancel(LATER_RECV, Some(200), "n1")),
            vec![],
        ),
        (
            "receiver logged the cancel with status null",
            delivered(&t("n1"))
                .sent(cancel(LATER, Some(200), "n1"))
                .received(cancel(LATER_RECV, None, "n1")),
            vec![],
        ),
        (
            // SEMANTICS says this only for notify; read like a refused notify (model.rs
            // `Attempt::accepted`): a refused cancel is not a delivered one.
            "receiver refused the cancel (400)",
            delivered(&t("n1"))
                .sent(cancel(LATER, Some(400), "n1"))
                .received(cancel(LATER_RECV, Some(400), "n1")),
            vec![n("n1")],
        ),
        (
            "sender's cancel got 500, nothing arrived",
            delivered(&t("n1")).sent(cancel(LATER, Some(500), "n1")),
            vec![n("n1")],
        ),
        (
            "sender's cancel got no answer (null), nothing arrived",
            delivered(&t("n1")).sent(cancel(LATER, None, "n1")),
            vec![n("n1")],
        ),
        (
            "cancel within grace (04:50)",
            delivered(&t("n1")).sent(cancel(IN_GRACE, Some(200), "n1")),
            vec![],
        ),
        (
            "cancel exactly grace before as_of",
            delivered(&t("n1")).sent(cancel(GRACE_EDGE, Some(200), "n1")),
            vec![n("n1")],
        ),
        (
            "only the receiver logged a cancel",
            delivered(&t("n1")).received(cancel(LATER_RECV, Some(200), "n1")),
            vec![],
        ),
        (
            "the receiver's cancel is after as_of (ignored)",
            delivered(&t("n1"))
                .sent(cancel(LATER, Some(200), "n1"))
                .received(cancel(AFTER_AS_OF, Some(200), "n1")),
            vec![n("n1")],
        ),
        (
            "cancel of an identifier never notified: cancellation-unmatched instead",
            delivered(&t("n1")).sent(cancel(LATER, Some(200), "x")),
            vec![],
        ),
        (
            "bgz (identifier as an object) cancelled, not received",
            delivered(&bgz()).sent(cancel_k(LATER, Some(200), bgz_id())),
            vec![nk(BGZ_KEY)],
        ),
        (
            "bgz cancelled as an object, received as an array",
            delivered(&bgz())
                .sent(cancel_k(LATER, Some(200), bgz_id()))
                .received(cancel_k(LATER_RECV, Some(200), json!([bgz_id()]))),
            vec![],
        ),
        (
            "tanp draft CancelTask for the tanp NewTask, received",
            delivered(&tanp_live())
                .sent(tanp_cancel(LATER, Some(200)))
                .received(tanp_cancel(LATER_RECV, Some(200))),
            vec![],
        ),
    ];
    check("cancellation-undelivered", "error", Replay::Never, cases);
}

#[test]
fn cancellation_unmatched() {
    let cases: Vec<Case> = vec![
        (
            "the sender cancels an identifier never notified",
            delivered(&t("n1")).sent(cancel(LATER, Some(200), "x")),
            vec![n("x")],
        ),
        (
            "the receiver logs a cancel for an unknown identifier",
            delivered(&t("n1")).received(cancel(LATER_RECV, Some(200), "x")),
            vec![n("x")],
        ),
        (
            "a cancel in both logs for one unknown identifier: one finding",
            Story::new()
                .sent(cancel(LATER, Some(200), "x"))
                .received(cancel(LATER_RECV, Some(200), "x")),
            vec![n("x")],
        ),
        (
            "cancel of a notified identifier",
            delivered(&t("n1")).sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "cancel of a notification only the receiver logged",
            Story::new()
                .received(notify(RECV, Some(201), &t("n1")))
                .sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "cancel without identifier: keyed by file and line",
            Story::new().sent(cancel_without_identifier(LATER, Some(200))),
            vec![unkeyed()],
        ),
        (
            "the notify is before the lookback: its cancel is unmatched",
            Story::new()
                .sent(notify(BEFORE_LOOKBACK, Some(201), &t("n1")))
                .sent(cancel(LATER, Some(200), "n1")),
            vec![n("n1")],
        ),
        (
            "tanp CancelTask for the tanp NewTask (same identifier)",
            delivered(&tanp_live()).sent(tanp_cancel(LATER, Some(200))),
            vec![],
        ),
        (
            "tanp CancelTask vs the bgz notification (rfc3986 vs rfc4122 system)",
            delivered(&bgz()).sent(tanp_cancel(LATER, Some(200))),
            vec![n(TANP_ID)],
        ),
    ];
    check("cancellation-unmatched", "warning", Replay::Never, cases);
}

#[test]
fn pulled_after_cancellation() {
    // Delivered 09:00, cancelled 12:00, pulls at 13:00.
    let cancelled_by_sender = || delivered(&t("n1")).sent(cancel(LATER, Some(200), "n1"));
    let cases: Vec<Case> = vec![
        (
            "read after the sender's cancel",
            cancelled_by_sender().received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "search after a cancel only the receiver logged",
            delivered(&t("n1"))
                .received(cancel(LATER_RECV, Some(200), "n1"))
                .received(pull(AFTER_CANCEL, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", SEARCH)],
        ),
        (
            "pulls before the cancellation",
            pulled(delivered(&t("n1")), "n1").sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "a failed pull (500) after the cancellation counts",
            cancelled_by_sender().received(pull(AFTER_CANCEL, "read", Some(500), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "an unanswered pull (null) after the cancellation counts",
            cancelled_by_sender().received(pull(AFTER_CANCEL, "read", None, "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "the earliest cancellation of either log counts",
            delivered(&t("n1"))
                .received(cancel(LATER_RECV, Some(200), "n1"))
                .sent(cancel(AFTER_CANCEL_3, Some(200), "n1"))
                .received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "a cancel answered 500 still cancels",
            delivered(&t("n1"))
                .sent(cancel(LATER, Some(500), "n1"))
                .received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "a cancel the receiver refused (400) still cancels",
            delivered(&t("n1"))
                .received(cancel(LATER_RECV, Some(400), "n1"))
                .received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "a pull at the very moment of the cancellation is not after it",
            cancelled_by_sender().received(pull(LATER, "read", Some(200), "n1", READ)),
            vec![],
        ),
        (
            "three pulls of one request after the cancellation: one finding",
            cancelled_by_sender()
                .received(pull(AFTER_CANCEL, "read", Some(500), "n1", READ))
                .received(pull(AFTER_CANCEL_2, "read", Some(503), "n1", READ))
                .received(pull(AFTER_CANCEL_3, "read", Some(200), "n1", READ)),
            vec![r("n1", READ)],
        ),
        (
            "two requests after the cancellation",
            cancelled_by_sender()
                .received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ))
                .received(pull(AFTER_CANCEL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "a percent-encoded absolute pull is reported as the normalised request",
            cancelled_by_sender().received(pull(
                AFTER_CANCEL,
                "search",
                Some(200),
                "n1",
                "https://fhir.sender-a.example/fhir/Observation?code=http%3a%2f%2floinc.org%7c29463-7",
            )),
            vec![r("n1", SEARCH)],
        ),
        (
            "pulls in the sent log do not count",
            cancelled_by_sender().sent(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![],
        ),
        (
            "no cancellation",
            delivered(&t("n1")).received(pull(AFTER_CANCEL, "read", Some(200), "n1", READ)),
            vec![],
        ),
        (
            "bgz: get-workflow-task after a cancel naming the identifier object",
            delivered(&bgz())
                .sent(cancel_k(LATER, Some(200), bgz()["identifier"].clone()))
                .received(pull_k(
                    AFTER_CANCEL,
                    "get-workflow-task",
                    Some(200),
                    BGZ_KEY,
                    BGZ_WF,
                )),
            vec![rk(BGZ_KEY, BGZ_WF)],
        ),
    ];
    check("pulled-after-cancellation", "error", Replay::Never, cases);
}

// =============================================================================================
// Pulls
// =============================================================================================

#[test]
fn pull_failed() {
    let gwt = || with_gwt(t("n1"), WF_REQ);
    let wf_story = |status: &str| {
        pulled(delivered(&gwt()), "n1")
            .received(wf_pull(
                PULL_3,
                Some(200),
                &key("n1"),
                WF_REQ,
                wf_body(status, Some(1), None),
            ))
            .received(pull(
                "2026-11-19T09:02:00Z",
                "search",
                Some(500),
                "n1",
                WF_RAW[0],
            ))
    };
    let cases: Vec<Case> = vec![
        (
            "read answered 500, search pulled",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ).repl(true)],
        ),
        (
            "read never answered (null)",
            delivered(&t("n1"))
                .received(pull(PULL, "read", None, "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ).repl(true)],
        ),
        (
            "read 404 twice: one finding",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(404), "n1", READ))
                .received(pull(PULL_3, "read", Some(404), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ)],
        ),
        (
            "read 500, then 200 on a retry",
            pulled(delivered(&t("n1")), "n1").received(pull(PULL, "read", Some(500), "n1", READ)),
            vec![],
        ),
        (
            "read 200, then 500: one success is enough",
            pulled(delivered(&t("n1")), "n1").received(pull(
                "2026-11-19T10:00:00Z",
                "read",
                Some(500),
                "n1",
                READ,
            )),
            vec![],
        ),
        (
            "never attempted: pull-missing, not pull-failed",
            delivered(&t("n1")),
            vec![],
        ),
        (
            "absolute URL under the sender base, 503",
            delivered(&t("n1"))
                .received(pull(
                    PULL,
                    "read",
                    Some(503),
                    "n1",
                    "https://fhir.sender-a.example/fhir/DocumentReference/brief-1",
                ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ)],
        ),
        (
            "lower-case percent-encoding, 500: reported under the normalised request",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(200), "n1", READ))
                .received(pull(
                    PULL_2,
                    "search",
                    Some(500),
                    "n1",
                    "Observation?code=http%3a%2f%2floinc.org%7c29463-7",
                )),
            vec![r("n1", SEARCH)],
        ),
        (
            "a request the Task never asked for failed: not a finding",
            pulled(delivered(&t("n1")), "n1").received(pull(
                PULL_3,
                "read",
                Some(500),
                "n1",
                "Patient/999",
            )),
            vec![],
        ),
        (
            "superseded notification: no finding",
            delivered(&task("n1", "g"))
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .healthy(
                    "n2",
                    &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
                ),
            vec![],
        ),
        (
            "cancelled notification: no finding",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "expired notification: pull-expired instead",
            delivered(&expiring(t("n1"), "2026-11-19T12:00:00Z")).received(pull(
                PULL,
                "read",
                Some(500),
                "n1",
                READ,
            )),
            vec![],
        ),
        (
            "attempted only in the sent log: does not count",
            delivered(&t("n1"))
                .sent(pull(PULL, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![],
        ),
        (
            "failed within grace still counts (no grace for pull-failed)",
            delivered(&t("n1"))
                .received(pull(IN_GRACE, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ)],
        ),
        (
            "attempted although the receipt was never logged",
            sent_only(&t("n1"), Some(201))
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ)],
        ),
        (
            "bgz: get-workflow-task answered 500",
            delivered(&bgz()).received(pull_k(
                PULL,
                "get-workflow-task",
                Some(500),
                BGZ_KEY,
                BGZ_WF,
            )),
            vec![rk(BGZ_KEY, BGZ_WF).repl(true)],
        ),
        (
            "a Workflow Task input failed, the Workflow Task is active",
            wf_story("requested"),
            vec![r("n1", WF_IN[0]).repl(true)],
        ),
        (
            "a Workflow Task input failed, the Workflow Task is completed: not replayable",
            wf_story("completed"),
            vec![r("n1", WF_IN[0]).repl(false)],
        ),
        (
            "tanp draft: release 1.2 read-resource (valueReference) failed",
            delivered(&tanp_live())
                .received(pull(PULL, "read", Some(410), TANP_ID, TANP_READ))
                .received(pull(PULL_2, "search", Some(200), TANP_ID, TANP_SEARCH)),
            vec![r(TANP_ID, TANP_READ).repl(true)],
        ),
    ];
    check("pull-failed", "error", Replay::Possible, cases);
}

#[test]
fn pull_missing() {
    let gwt = || with_gwt(t("n1"), WF_REQ);
    // The Notification Task's read and search pulled, the Workflow Task pulled with a body of the
    // first three bgz inputs, and only the first of those pulled.
    let wf_story = |status: &str| {
        pulled(delivered(&gwt()), "n1")
            .received(wf_pull(
                PULL_3,
                Some(200),
                &key("n1"),
                WF_REQ,
                wf_body(status, Some(3), None),
            ))
            .received(pull(
                "2026-11-19T09:02:00Z",
                "search",
                Some(200),
                "n1",
                WF_RAW[0],
            ))
    };
    // The bgz notification and its full Workflow Task, every input pulled as an absolute URL in
    // its written form except the last `skip`.
    let bgz_full = |skip: usize| {
        let body = example(BGZ_WORKFLOW);
        let raws: Vec<String> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["valueString"].as_str().map(str::to_owned))
            .collect();
        let mut s = delivered(&bgz()).received(wf_pull(PULL, Some(200), BGZ_KEY, BGZ_WF, body));
        for (i, raw) in raws.iter().take(raws.len() - skip).enumerate() {
            s = s.received(pull_k(
                &format!("2026-11-19T10:{:02}:00Z", i),
                "search",
                Some(200),
                BGZ_KEY,
                &format!("{BASE_A}/{raw}"),
            ));
        }
        s
    };
    let cases: Vec<Case> = vec![
        (
            "everything pulled",
            Story::new().healthy("n1", &t("n1")),
            vec![],
        ),
        (
            "nothing pulled",
            delivered(&t("n1")),
            vec![r("n1", READ).repl(true), r("n1", SEARCH).repl(true)],
        ),
        (
            "only the read pulled",
            delivered(&t("n1")).received(pull(PULL, "read", Some(200), "n1", READ)),
            vec![r("n1", SEARCH)],
        ),
        (
            "receipt within grace",
            Story::new()
                .sent(notify(IN_GRACE, Some(201), &t("n1")))
                .received(notify(IN_GRACE, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "receipt exactly grace before as_of",
            Story::new()
                .sent(notify(GRACE_EDGE, Some(201), &t("n1")))
                .received(notify(GRACE_EDGE, Some(201), &t("n1"))),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "a receipt with status null is a delivery",
            sent_only(&t("n1"), Some(201)).received(notify(RECV, None, &t("n1"))),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "receiver refused (400): no receipt, so nothing is missing",
            sent_only(&t("n1"), Some(201)).received(notify(RECV, Some(400), &t("n1"))),
            vec![],
        ),
        (
            "refused at 09:00, accepted within grace: the receipt is the accepted one",
            sent_only(&t("n1"), Some(201))
                .received(notify(RECV, Some(400), &t("n1")))
                .received(notify(IN_GRACE, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "not delivered: notification-lost instead",
            sent_only(&t("n1"), Some(201)),
            vec![],
        ),
        (
            "read attempted and failed: pull-failed instead",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![],
        ),
        (
            "a superseded notification's requests",
            delivered(&task("n1", "g")).healthy(
                "n2",
                &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
            ),
            vec![],
        ),
        (
            "cancelled",
            delivered(&t("n1")).sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "cancelled in the received log only",
            delivered(&t("n1")).received(cancel(LATER_RECV, Some(200), "n1")),
            vec![],
        ),
        (
            "expired: pull-expired instead",
            delivered(&expiring(t("n1"), "2026-11-19T12:00:00Z")),
            vec![],
        ),
        (
            "end date-only 2026-11-20 means the end of that day: not expired yet",
            delivered(&expiring(t("n1"), "2026-11-20")),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "variants: lower-case percent-encoding, a literal pipe",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(200), "n1", "DocumentReference/brief%2D1"))
                .received(pull(
                    PULL_2,
                    "search",
                    Some(200),
                    "n1",
                    "Observation?code=http%3a%2f%2floinc.org%7c29463-7",
                ))
                .received(pull(
                    PULL_3,
                    "search",
                    Some(200),
                    "n1",
                    "Observation?code=http://loinc.org|29463-7",
                )),
            vec![],
        ),
        (
            "variants: absolute URLs under the sender base",
            delivered(&t("n1"))
                .received(pull(
                    PULL,
                    "read",
                    Some(200),
                    "n1",
                    "https://fhir.sender-a.example/fhir/DocumentReference/brief-1",
                ))
                .received(pull(
                    PULL_2,
                    "search",
                    Some(200),
                    "n1",
                    "https://fhir.sender-a.example/fhir/Observation?code=http%3A%2F%2Floinc.org%7C29463-7",
                )),
            vec![],
        ),
        (
            "variants: a leading slash",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(200), "n1", "/DocumentReference/brief-1"))
                .received(pull(
                    PULL_2,
                    "search",
                    Some(200),
                    "n1",
                    "/Observation?code=http://loinc.org%7c29463-7",
                )),
            vec![],
        ),
        (
            "sender_base with an upper-case path segment is stripped",
            Story::new()
                .sent(with_field(
                    notify(SEND, Some(201), &t("n1")),
                    "sender_base",
                    "https://fhir.sender-a.example/FHIR/R4",
                ))
                .received(notify(RECV, Some(201), &t("n1")))
                .received(pull(
                    PULL,
                    "read",
                    Some(200),
                    "n1",
                    "https://fhir.sender-a.example/FHIR/R4/DocumentReference/brief-1",
                ))
                .received(pull(
                    PULL_2,
                    "search",
                    Some(200),
                    "n1",
                    "https://fhir.sender-a.example/FHIR/R4/Observation?code=http://loinc.org|29463-7",
                )),
            vec![],
        ),
        (
            "pulls logged under another notification do not count",
            delivered(&t("n1"))
                .received(pull(PULL, "read", Some(200), "n2", READ))
                .received(pull(PULL_2, "search", Some(200), "n2", SEARCH)),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "get-workflow-task true: Task/<basedOn id> is expected",
            delivered(&gwt()),
            vec![r("n1", READ), r("n1", SEARCH), r("n1", WF_REQ)],
        ),
        (
            "bgz: Task/Workflow-Task-123455 expected through the …/TaskCodes flag",
            delivered(&bgz()),
            vec![rk(BGZ_KEY, BGZ_WF).repl(true)],
        ),
        (
            "Workflow Task body inputs become expected requests",
            wf_story("requested"),
            vec![r("n1", WF_IN[1]).repl(true), r("n1", WF_IN[2]).repl(true)],
        ),
        (
            "Workflow Task in-progress is active: replayable",
            wf_story("in-progress"),
            vec![r("n1", WF_IN[1]).repl(true), r("n1", WF_IN[2]).repl(true)],
        ),
        (
            "Workflow Task completed: still reported, not replayable",
            wf_story("completed"),
            vec![r("n1", WF_IN[1]).repl(false), r("n1", WF_IN[2]).repl(false)],
        ),
        (
            "Workflow Task on-hold is not active: not replayable",
            wf_story("on-hold"),
            vec![r("n1", WF_IN[1]).repl(false), r("n1", WF_IN[2]).repl(false)],
        ),
        (
            "the body of a failed get-workflow-task is not used",
            pulled(delivered(&gwt()), "n1").received(wf_pull(
                PULL_3,
                Some(500),
                &key("n1"),
                WF_REQ,
                wf_body("requested", Some(3), None),
            )),
            vec![],
        ),
        (
            "bgz full Workflow Task: every input pulled as an absolute URL",
            bgz_full(0),
            vec![],
        ),
        (
            "bgz full Workflow Task: all but the last input pulled",
            bgz_full(1),
            vec![rk(
                BGZ_KEY,
                "Observation/$lastn?category=http://snomed.info/sct%7C275711006&_include=Observation:specimen",
            )],
        ),
        (
            "jorritspee templates: placeholder basedOn pulled, placeholder Workflow input ignored",
            delivered(&jorrit()).received(wf_pull(
                PULL,
                Some(200),
                JORRIT_KEY,
                "Task/<<Workflow Task ID>>",
                example(JORRIT_WORKFLOW),
            )),
            vec![],
        ),
        (
            "release 1.2 codes: tanp read-resource valueReference and a LOINC-coded search",
            delivered(&tanp_live()),
            vec![r(TANP_ID, TANP_READ), r(TANP_ID, TANP_SEARCH)],
        ),
        (
            "release 1.2 codes read-resource and search-resource as valueString",
            delivered(&inputs(
                t("n1"),
                vec![
                    input_str("read-resource", "Patient/123"),
                    input_str("search-resource", "Condition?clinical-status=active"),
                ],
            )),
            vec![
                r("n1", "Condition?clinical-status=active"),
                r("n1", "Patient/123"),
            ],
        ),
        (
            "release 1.4 codes read-available-resource (valueReference), query-available-resources",
            delivered(&inputs(
                t("n1"),
                vec![
                    input_ref("read-available-resource", "Patient/123"),
                    input_str(
                        "query-available-resources",
                        "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6",
                    ),
                ],
            )),
            vec![
                r(
                    "n1",
                    "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3%7C6",
                ),
                r("n1", "Patient/123"),
            ],
        ),
        (
            "free text and template placeholders are not requests",
            delivered(&inputs(
                t("n1"),
                vec![
                    input_str("note", "Zie verwijsbrief"),
                    input_str("<<Code>>", "<<Search URL>>"),
                ],
            )),
            vec![],
        ),
        (
            // SEMANTICS [model] "any other valueString that looks like a FHIR request
            // (starts with a resource type …) … Anything else (… free text) is ignored".
            // "Verwijzing" is no FHIR resource type.
            "a single capitalised word that is no resource type is free text",
            delivered(&inputs(t("n1"), vec![input_str("note", "Verwijzing")])),
            vec![],
        ),
        (
            // SEMANTICS [model] canonical form: in a query `/` and `?` stay literal too (RFC 3986
            // allows both there), so `%3F` and `?` inside a value are one request.
            "a '?' inside a query value is literal in the canonical form",
            delivered(&inputs(
                t("n1"),
                vec![input_str("search-resource", "Observation?code=a%3Fb")],
            )),
            vec![r("n1", "Observation?code=a?b")],
        ),
    ];
    check("pull-missing", "error", Replay::Possible, cases);
}

#[test]
fn pull_expired() {
    let expired = || expiring(t("n1"), "2026-11-19T12:00:00Z");
    let cases: Vec<Case> = vec![
        (
            "expired, delivered, nothing pulled",
            delivered(&expired()),
            vec![r("n1", READ).repl(false), r("n1", SEARCH).repl(false)],
        ),
        (
            "expired, read failed, search pulled",
            delivered(&expired())
                .received(pull(PULL, "read", Some(500), "n1", READ))
                .received(pull(PULL_2, "search", Some(200), "n1", SEARCH)),
            vec![r("n1", READ)],
        ),
        (
            "expired, everything pulled before the end",
            pulled(delivered(&expired()), "n1"),
            vec![],
        ),
        (
            "expired, not delivered, never attempted: nothing",
            sent_only(&expired(), Some(201)),
            vec![],
        ),
        (
            "expired, not delivered, read attempted and failed",
            sent_only(&expired(), Some(201)).received(pull(PULL, "read", None, "n1", READ)),
            vec![r("n1", READ)],
        ),
        ("not expired", delivered(&t("n1")), vec![]),
        (
            "end exactly at as_of is not before as_of",
            delivered(&expiring(t("n1"), "2026-11-20T05:00:00Z")),
            vec![],
        ),
        (
            "end 05:30+01:00 is 04:30Z: expired",
            delivered(&expiring(t("n1"), "2026-11-20T05:30:00+01:00")),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "end date-only 2026-11-19 (end of that day, UTC): expired",
            delivered(&expiring(t("n1"), "2026-11-19")),
            vec![r("n1", READ), r("n1", SEARCH)],
        ),
        (
            "end date-only 2026-11-20: not expired yet",
            delivered(&expiring(t("n1"), "2026-11-20")),
            vec![],
        ),
        (
            "jorritspee template: a placeholder end means no expiry",
            delivered(&jorrit()),
            vec![],
        ),
        (
            "expired and cancelled",
            delivered(&expired()).sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "expired and superseded",
            delivered(&expiring(task("n1", "g"), "2026-11-19T12:00:00Z")).healthy(
                "n2",
                &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
            ),
            vec![],
        ),
        (
            "tanp draft as written (end 2023-10-14), delivered, nothing pulled",
            delivered(&tanp()),
            vec![
                r(TANP_ID, TANP_READ).repl(false),
                r(TANP_ID, TANP_SEARCH).repl(false),
            ],
        ),
        (
            "bgz with an end in the past: its Workflow Task reference expired",
            delivered(&set(
                bgz(),
                "restriction",
                json!({"period": {"end": "2026-11-19"}}),
            )),
            vec![rk(BGZ_KEY, BGZ_WF)],
        ),
    ];
    check("pull-expired", "warning", Replay::Never, cases);
}

// =============================================================================================
// BSN
// =============================================================================================

#[test]
fn bsn_unavailable() {
    let nb = |id: &str| no_bsn(t(id));
    let gwt_nb = || with_gwt(nb("n1"), WF_REQ);
    let cases: Vec<Case> = vec![
        ("BSN in the Notification Task", delivered(&t("n1")), vec![]),
        ("no BSN by any route", delivered(&nb("n1")), vec![n("n1")]),
        (
            "bsn_in_assertion true without a value counts as a route",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &nb("n1")),
                    Some(true),
                    None,
                ))
                .received(notify(RECV, Some(201), &nb("n1"))),
            vec![],
        ),
        (
            "assertion_bsn logged",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &nb("n1")),
                    Some(true),
                    Some(BSN),
                ))
                .received(notify(RECV, Some(201), &nb("n1"))),
            vec![],
        ),
        (
            "bsn_in_assertion false",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &nb("n1")),
                    Some(false),
                    None,
                ))
                .received(notify(RECV, Some(201), &nb("n1"))),
            vec![n("n1")],
        ),
        (
            "bsn_in_assertion on a received-log notify is no route (sent log only)",
            Story::new()
                .sent(notify(SEND, Some(201), &nb("n1")))
                .received(assertion(
                    notify(RECV, Some(201), &nb("n1")),
                    Some(true),
                    None,
                )),
            vec![n("n1")],
        ),
        (
            "BSN only in the received-log copy of the Task",
            Story::new()
                .sent(notify(SEND, Some(201), &nb("n1")))
                .received(notify(RECV, Some(201), &t("n1"))),
            vec![],
        ),
        (
            "the Workflow Task body carries the BSN",
            delivered(&gwt_nb()).received(wf_pull(
                PULL,
                Some(200),
                &key("n1"),
                WF_REQ,
                wf_body("requested", Some(1), Some(BSN)),
            )),
            vec![],
        ),
        (
            "the Workflow Task body is known but has no BSN",
            delivered(&gwt_nb()).received(wf_pull(
                PULL,
                Some(200),
                &key("n1"),
                WF_REQ,
                wf_body("requested", Some(1), None),
            )),
            vec![n("n1")],
        ),
        (
            "a Workflow Task body only from a failed pull is not known",
            delivered(&gwt_nb()).received(wf_pull(
                PULL,
                Some(503),
                &key("n1"),
                WF_REQ,
                wf_body("requested", Some(1), Some(BSN)),
            )),
            vec![n("n1")],
        ),
        (
            "an invalid BSN still counts as shown",
            delivered(&with_bsn(t("n1"), BSN_BAD)),
            vec![],
        ),
        (
            "for.identifier under another system is no BSN",
            delivered(&set(
                t("n1"),
                "for",
                json!({"identifier": {"system": "http://example.com/patient-id", "value": BSN}}),
            )),
            vec![n("n1")],
        ),
        (
            "superseded notification without BSN",
            delivered(&no_bsn(task("n1", "g"))).healthy(
                "n2",
                &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
            ),
            vec![],
        ),
        (
            "the current update lacks the BSN its predecessor had",
            Story::new().healthy("n1", &task("n1", "g")).healthy(
                "n2",
                &no_bsn(set(
                    task("n2", "g"),
                    "authoredOn",
                    json!("2026-11-19T10:00:00Z"),
                )),
            ),
            vec![n("n2")],
        ),
        (
            "cancelled notification without BSN",
            delivered(&nb("n1")).sent(cancel(LATER, Some(200), "n1")),
            vec![],
        ),
        (
            "expired notification without BSN is still checked",
            delivered(&expiring(nb("n1"), "2026-11-19")),
            vec![n("n1")],
        ),
        (
            "bgz example: DIDs, no BSN anywhere",
            delivered(&bgz()),
            vec![nk(BGZ_KEY)],
        ),
        (
            "bgz example with its Workflow Task body carrying the BSN",
            delivered(&bgz()).received(wf_pull(
                PULL,
                Some(200),
                BGZ_KEY,
                BGZ_WF,
                wf_body("requested", None, Some(BSN)),
            )),
            vec![],
        ),
        ("tanp draft: BSN in for", delivered(&tanp_live()), vec![]),
        (
            "a notification only the receiver logged, without BSN",
            Story::new().received(notify(RECV, Some(201), &nb("n1"))),
            vec![n("n1")],
        ),
    ];
    check("bsn-unavailable", "error", Replay::Never, cases);
}

#[test]
fn bsn_invalid() {
    let gwt = || with_gwt(t("n1"), WF_REQ);
    let cases: Vec<Case> = vec![
        ("a valid BSN in the Task", delivered(&t("n1")), vec![]),
        (
            "the Task's BSN fails the elfproef",
            delivered(&with_bsn(t("n1"), BSN_BAD)),
            vec![n("n1")],
        ),
        (
            "8 digits",
            delivered(&with_bsn(t("n1"), "17264286")),
            vec![n("n1")],
        ),
        (
            "10 digits",
            delivered(&with_bsn(t("n1"), "1726428630")),
            vec![n("n1")],
        ),
        (
            "not only digits",
            delivered(&with_bsn(t("n1"), "17264286X")),
            vec![n("n1")],
        ),
        (
            "the second valid test BSN",
            delivered(&with_bsn(t("n1"), BSN_2)),
            vec![],
        ),
        (
            "an invalid assertion_bsn next to a valid Task BSN",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &t("n1")),
                    Some(true),
                    Some(BSN_BAD),
                ))
                .received(notify(RECV, Some(201), &t("n1"))),
            vec![n("n1")],
        ),
        (
            "an invalid BSN in the Workflow Task body",
            delivered(&gwt()).received(wf_pull(
                PULL,
                Some(200),
                &key("n1"),
                WF_REQ,
                wf_body("requested", Some(1), Some(BSN_BAD)),
            )),
            vec![n("n1")],
        ),
        (
            "an invalid BSN only in the received-log copy of the Task",
            Story::new()
                .sent(notify(SEND, Some(201), &t("n1")))
                .received(notify(RECV, Some(201), &with_bsn(t("n1"), BSN_BAD))),
            vec![n("n1")],
        ),
        (
            "bsn_in_assertion true without a value: nothing to check",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &no_bsn(t("n1"))),
                    Some(true),
                    None,
                ))
                .received(notify(RECV, Some(201), &no_bsn(t("n1")))),
            vec![],
        ),
        ("no BSN at all", delivered(&no_bsn(t("n1"))), vec![]),
        (
            "an invalid number under another identifier system is no BSN",
            delivered(&set(
                t("n1"),
                "for",
                json!({"identifier": {"system": "http://example.com/patient-id", "value": BSN_BAD}}),
            )),
            vec![],
        ),
        (
            "a superseded notification is checked too",
            delivered(&with_bsn(task("n1", "g"), BSN_BAD)).healthy(
                "n2",
                &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
            ),
            vec![n("n1")],
        ),
        (
            "a cancelled notification is checked too",
            delivered(&with_bsn(t("n1"), BSN_BAD)).sent(cancel(LATER, Some(200), "n1")),
            vec![n("n1")],
        ),
    ];
    check("bsn-invalid", "error", Replay::Never, cases);
}

#[test]
fn bsn_mismatch() {
    let gwt = |t: Value| with_gwt(t, WF_REQ);
    let wf = |bsn: &str| {
        wf_pull(
            PULL,
            Some(200),
            &key("n1"),
            WF_REQ,
            wf_body("requested", Some(1), Some(bsn)),
        )
    };
    let asserted = |t: &Value, bsn: Option<&str>| {
        Story::new()
            .sent(assertion(notify(SEND, Some(201), t), Some(true), bsn))
            .received(notify(RECV, Some(201), t))
    };
    let cases: Vec<Case> = vec![
        (
            "Task and assertion agree",
            asserted(&t("n1"), Some(BSN)),
            vec![],
        ),
        (
            "Task and assertion differ",
            asserted(&t("n1"), Some(BSN_2)),
            vec![n("n1")],
        ),
        (
            "Task and Workflow Task differ",
            delivered(&gwt(t("n1"))).received(wf(BSN_2)),
            vec![n("n1")],
        ),
        (
            "Workflow Task and assertion differ (no BSN in the Task)",
            asserted(&gwt(no_bsn(t("n1"))), Some(BSN)).received(wf(BSN_2)),
            vec![n("n1")],
        ),
        (
            "all three routes agree",
            asserted(&gwt(t("n1")), Some(BSN)).received(wf(BSN)),
            vec![],
        ),
        (
            "bsn_in_assertion true without a value next to a Task BSN: nothing to compare",
            asserted(&t("n1"), None),
            vec![],
        ),
        (
            "an invalid BSN on one route, another valid one on the other",
            asserted(&t("n1"), Some(BSN_BAD)),
            vec![n("n1")],
        ),
        (
            "assertion logged twice (a retry) with the same value",
            asserted(&t("n1"), Some(BSN)).sent(assertion(
                notify(LATER, Some(201), &t("n1")),
                Some(true),
                Some(BSN),
            )),
            vec![],
        ),
        ("a single route", delivered(&t("n1")), vec![]),
        (
            "a superseded notification is checked too",
            Story::new()
                .sent(assertion(
                    notify(SEND, Some(201), &task("n1", "g")),
                    Some(true),
                    Some(BSN_2),
                ))
                .received(notify(RECV, Some(201), &task("n1", "g")))
                .healthy(
                    "n2",
                    &set(task("n2", "g"), "authoredOn", json!("2026-11-19T10:00:00Z")),
                ),
            vec![n("n1")],
        ),
        (
            "a cancelled notification is checked too",
            asserted(&t("n1"), Some(BSN_2)).sent(cancel(LATER, Some(200), "n1")),
            vec![n("n1")],
        ),
    ];
    check("bsn-mismatch", "error", Replay::Never, cases);
}

// =============================================================================================
// Push
// =============================================================================================

#[test]
fn push_undelivered() {
    let cases: Vec<Case> = vec![
        (
            "sent, the receiver never logged it",
            Story::new().sent(push(SEND, Some(200), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "sent with 500, never logged",
            Story::new().sent(push(SEND, Some(500), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "sent without an answer (null), never logged",
            Story::new().sent(push(SEND, None, "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "retried three times, never logged: one finding",
            Story::new()
                .sent(push(SEND, None, "m1", ORG_A))
                .sent(push(LATER, Some(503), "m1", ORG_A))
                .sent(push(AFTER_CANCEL, Some(500), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "sent and received",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m1", ORG_A)),
            vec![],
        ),
        (
            "two messages, one received",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .sent(push(SEND, Some(200), "m2", ORG_A))
                .received(push(RECV, Some(200), "m1", ORG_A)),
            vec![msg("m2")],
        ),
        (
            "sent within grace",
            Story::new().sent(push(IN_GRACE, Some(200), "m1", ORG_A)),
            vec![],
        ),
        (
            "sent exactly grace before as_of",
            Story::new().sent(push(GRACE_EDGE, Some(200), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "the receipt is after as_of (ignored)",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .received(push(AFTER_AS_OF, Some(200), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "received only",
            Story::new().received(push(RECV, Some(200), "m1", ORG_A)),
            vec![],
        ),
    ];
    check("push-undelivered", "error", Replay::Never, cases);
}

#[test]
fn push_unprocessed() {
    // Received 2026-11-18T04:00Z: the 24h SLA ended 2026-11-19T04:00Z, before as_of.
    const R_OLD: &str = "2026-11-18T04:00:00Z";
    let received_old = || {
        Story::new()
            .sent(push("2026-11-18T03:59:59Z", Some(200), "m1", ORG_A))
            .received(push(R_OLD, Some(200), "m1", ORG_A))
    };
    let cases: Vec<Case> = vec![
        (
            "received 25h before as_of, never processed",
            received_old(),
            vec![msg("m1").detail("not processed")],
        ),
        (
            "received 20h before as_of (SLA not over), not processed",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m1", ORG_A)),
            vec![],
        ),
        (
            "processed within the SLA",
            received_old().received(processed("2026-11-18T10:00:00Z", "m1", "accepted")),
            vec![],
        ),
        (
            "processed late: reported as late",
            received_old().received(processed("2026-11-19T06:00:00Z", "m1", "accepted")),
            vec![msg("m1").detail("late")],
        ),
        (
            "processed exactly at received + SLA",
            received_old().received(processed("2026-11-19T04:00:00Z", "m1", "accepted")),
            vec![],
        ),
        (
            "received exactly SLA before as_of, not processed",
            Story::new()
                .sent(push("2026-11-19T04:59:00Z", Some(200), "m1", ORG_A))
                .received(push("2026-11-19T05:00:00Z", Some(200), "m1", ORG_A)),
            vec![msg("m1")],
        ),
        (
            "push-processed logged in the sent log",
            received_old().sent(processed("2026-11-18T10:00:00Z", "m1", "accepted")),
            vec![],
        ),
        (
            "processed with outcome rejected is processed",
            received_old().received(processed("2026-11-18T10:00:00Z", "m1", "rejected")),
            vec![],
        ),
        (
            "processed after as_of is ignored",
            received_old().received(processed(AFTER_AS_OF, "m1", "accepted")),
            vec![msg("m1").detail("not processed")],
        ),
        (
            "received twice: the first receipt starts the SLA",
            received_old()
                .received(push(RECV, Some(200), "m1", ORG_A))
                .received(processed("2026-11-19T10:00:00Z", "m1", "accepted")),
            vec![msg("m1").detail("late")],
        ),
        (
            "sent but never received: push-undelivered, not this",
            Story::new().sent(push(R_OLD, Some(200), "m1", ORG_A)),
            vec![],
        ),
    ];
    check("push-unprocessed", "warning", Replay::Never, cases);
}

#[test]
fn push_unknown_to_sender() {
    let cases: Vec<Case> = vec![
        (
            "received, the sent log holds another push of that sender",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m2", ORG_A)),
            vec![msg("m2")],
        ),
        (
            "received from ORG_A, the sent log holds only ORG_B's pushes",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_B))
                .received(push(RECV, Some(200), "m1", ORG_B))
                .received(push(RECV, Some(200), "m2", ORG_A)),
            vec![],
        ),
        (
            "received, the sent log is empty",
            Story::new().received(push(RECV, Some(200), "m2", ORG_A)),
            vec![],
        ),
        (
            "received and sent",
            Story::new()
                .sent(push(SEND, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m1", ORG_A)),
            vec![],
        ),
        (
            "the covering push is before the lookback: not covered",
            Story::new()
                .sent(push(BEFORE_LOOKBACK, Some(200), "m1", ORG_A))
                .received(push(RECV, Some(200), "m2", ORG_A)),
            vec![],
        ),
        (
            "the covering push got no answer: still covered",
            Story::new()
                .sent(push(SEND, None, "m1", ORG_A))
                .received(push(RECV, Some(200), "m2", ORG_A)),
            vec![msg("m2")],
        ),
    ];
    check("push-unknown-to-sender", "warning", Replay::Never, cases);
}
