//! The tolerant Task reader on every published example in tests/fixtures/fhir-examples/.

use crate::common::*;
use pullrecon::fhir::task::{RequestKind, parse_task};

#[test]
fn every_example_parses() {
    let dir = fixture("fhir-examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            parse_task(&text).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
            n += 1;
        }
    }
    assert_eq!(n, 8, "all eight examples are fixtures");
}

fn parsed(file: &str) -> pullrecon::fhir::task::Task {
    parse_task(&example(file).to_string()).unwrap()
}

#[test]
fn identifier_as_object_and_code_system_typo() {
    let t = parsed(BGZ_NOTIFICATION);
    assert_eq!(
        t.identifier.as_deref(),
        Some("https://tools.ietf.org/html/rfc4122|urn:uuid:6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe")
    );
    // `get-workflow-task` is found although its system is `…/TaskCodes`.
    assert_eq!(t.get_workflow_task, Some(true));
    assert_eq!(t.based_on.as_deref(), Some("Workflow-Task-123455"));
    // The authorization-base under a placeholder system is still recognised by its code.
    assert!(t.authorization_base.is_some());
    // No code at all: malformed, but readable.
    assert!(
        t.malformations()
            .contains(&"code is not 'pull-notification'")
    );
    assert_eq!(
        t.sender_org.as_deref(),
        Some("https://www.w3.org/ns/did/v1|did:nuts of bgz-sender organization")
    );
}

#[test]
fn r4_shaped_draft_and_release_12_codes() {
    let t = parsed(TANP_NEW);
    assert_eq!(
        t.sender_org.as_deref(),
        Some("http://example.com/fhir/NamingSystem/dummy|sending-ehr-system-id")
    );
    assert_eq!(t.patient_bsn.as_deref(), Some(BSN));
    assert_eq!(
        t.nonstandard_code_system(),
        Some("https://www.twiin.nl/tanp/CodeSystem/tanp-codes")
    );
    let kinds: Vec<_> = t
        .requests
        .iter()
        .map(|r| (r.kind.clone(), r.raw.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (RequestKind::Read, "Observation/SomeObservation"),
            (RequestKind::Search, "DocumentReference?status=current"),
        ]
    );
    assert!(t.expires.is_some());
    assert!(t.malformations().is_empty());
}

#[test]
fn cancellation_body() {
    let t = parsed(TANP_CANCEL);
    assert_eq!(t.status.as_deref(), Some("cancelled"));
    assert!(t.identifier.is_some());
    assert!(t.group.is_none());
}

#[test]
fn workflow_tasks_carry_coded_searches() {
    let nuts = parsed(NUTS_WORKFLOW);
    assert!(nuts.requests.len() >= 12, "got {}", nuts.requests.len());
    assert!(nuts.requests.iter().all(|r| r.kind == RequestKind::Search));
    assert!(nuts.requests.iter().any(|r| r.raw == "Condition"));
    assert!(nuts.workflow_active());
    let bgz = parsed(BGZ_WORKFLOW);
    assert!(
        bgz.requests
            .iter()
            .any(|r| r.code.as_deref() == Some("79191-3"))
    );
}

#[test]
fn templates_with_placeholders() {
    let n = parsed("jorritspee_Application-on-Nuts-Notified-Pull__Notification-Task-Template.json");
    assert_eq!(n.get_workflow_task, Some(true));
    // Read, in canonical (percent-encoded) form, as any other reference.
    assert_eq!(
        n.based_on.as_deref(),
        Some("%3C%3CWorkflow%20Task%20ID%3E%3E")
    );
    assert!(n.expires.is_none() && n.expires_unreadable);
    let w = parsed("jorritspee_Application-on-Nuts-Notified-Pull__Workflow-Task-Template.json");
    // `<<Search URL>>` is not a request.
    assert!(w.requests.is_empty());
}

#[test]
fn nuts_notification_keeps_secret_out_of_debug() {
    let t = parsed(NUTS_NOTIFICATION);
    let debug = format!("{t:?}");
    assert!(!debug.contains("ZGFhNDFjY2MtZGFmMi00YjZkLThiNDYtN2JlZDk1MWEyYzk2"));
    assert_eq!(t.authorization_base.unwrap().expose(), AUTH_BASE);
}
