//! The compact model at scale keeps what the contract needs and hands the rest back on demand:
//! a notification's authorization-base is not held in memory but read again from its log line
//! (NDJSON, gzip or CSV) when replay materialises the notification.

use crate::common::*;
use pullrecon::reconcile::reconcile;
use serde_json::json;
use std::io::Write;

const WF_AUTH: &str = "d29ya2Zsb3ctdGFzay1hdXRob3JpemF0aW9uLWJhc2U";

fn workflow_body() -> serde_json::Value {
    json!({"resourceType": "Task", "id": "wf-9", "status": "in-progress", "intent": "order",
    "for": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}},
    "input": [
      {"type": {"coding": [{"code": "authorization-base"}]}, "valueString": WF_AUTH},
      {"type": {"coding": [{"system": "http://loinc.org", "code": "11450-4"}]}, "valueString": "Condition"}
    ]})
}

#[test]
fn authorization_base_is_read_back_from_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent");
    let received = dir.path().join("received");
    std::fs::create_dir_all(&sent).unwrap();
    std::fs::create_dir_all(&received).unwrap();

    // n1: sent in plain NDJSON (after a byte-order mark and a blank line).
    let t1 = task("00000000-0000-4000-8000-0000000000a1", "g1");
    let mut f = std::fs::File::create(sent.join("a.ndjson")).unwrap();
    f.write_all(b"\xEF\xBB\xBF\n").unwrap();
    writeln!(f, "{}", notify("2026-11-19T09:00:00Z", Some(201), &t1)).unwrap();
    // n2: only the receiver logged it, in gzip, with a Workflow Task fetched by a pull.
    let mut t2 = task("00000000-0000-4000-8000-0000000000a2", "g2");
    t2["basedOn"] = json!([{"reference": "Task/wf-9"}]);
    t2["input"][0]["valueString"] = json!("Z3ppcC1hdXRob3JpemF0aW9uLWJhc2U");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(received.join("b.ndjson.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    writeln!(gz, "{}", notify("2026-11-19T09:10:00Z", Some(201), &t2)).unwrap();
    let mut wf = pull(
        "2026-11-19T09:11:00Z",
        "get-workflow-task",
        Some(200),
        "00000000-0000-4000-8000-0000000000a2",
        "Task/wf-9",
    );
    wf["body"] = workflow_body();
    writeln!(gz, "{wf}").unwrap();
    gz.finish().unwrap();
    // n3: only the receiver logged it, in CSV (the Task as JSON text), on its third line.
    let mut t3 = task("00000000-0000-4000-8000-0000000000a3", "g3");
    t3["input"][0]["valueString"] = json!("Y3N2LWF1dGhvcml6YXRpb24tYmFzZQ");
    let mut w = csv::Writer::from_path(received.join("c.csv")).unwrap();
    w.write_record(["ts", "interaction", "status", "task"])
        .unwrap();
    w.write_record(["2026-11-19T09:20:00Z", "push", "201", ""])
        .unwrap();
    w.write_record(["2026-11-19T09:20:01Z", "notify", "201", &t3.to_string()])
        .unwrap();
    w.flush().unwrap();

    let outcome = reconcile(&options(&sent, &received, &dir.path().join("out"))).unwrap();
    let auth = |id: &str| {
        outcome
            .model
            .get(&key(id))
            .and_then(|n| n.task.authorization_base.clone())
            .map(|a| a.expose().to_owned())
    };
    assert_eq!(
        auth("00000000-0000-4000-8000-0000000000a1").as_deref(),
        Some(AUTH_BASE)
    );
    assert_eq!(
        auth("00000000-0000-4000-8000-0000000000a2").as_deref(),
        Some("Z3ppcC1hdXRob3JpemF0aW9uLWJhc2U")
    );
    assert_eq!(
        auth("00000000-0000-4000-8000-0000000000a3").as_deref(),
        Some("Y3N2LWF1dGhvcml6YXRpb24tYmFzZQ")
    );
    let n2 = outcome
        .model
        .get(&key("00000000-0000-4000-8000-0000000000a2"))
        .unwrap();
    let wf = n2
        .workflow
        .as_ref()
        .expect("the Workflow Task body is known");
    assert_eq!(
        wf.authorization_base.as_ref().map(|a| a.expose()),
        Some(WF_AUTH)
    );
    assert_eq!(wf.status.as_deref(), Some("in-progress"));
    assert!(n2.expected.iter().any(|e| e.request == "Condition"));
    // No credential in any output.
    for file in parquet_files(&dir.path().join("out")) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [AUTH_BASE, WF_AUTH, "Y3N2LWF1dGhvcml6YXRpb24tYmFzZQ"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{}",
                file.display()
            );
        }
    }
}

#[test]
fn the_model_answers_like_a_list_of_notifications() {
    let t = task("00000000-0000-4000-8000-0000000000b1", "gb");
    let outcome = Story::new()
        .healthy("00000000-0000-4000-8000-0000000000b1", &t)
        .run();
    let m = &outcome.model;
    assert_eq!(m.notifications.len(), 1);
    let i = *m
        .index
        .get(&key("00000000-0000-4000-8000-0000000000b1"))
        .unwrap();
    let n = &m.notifications[i];
    assert_eq!(n.id, key("00000000-0000-4000-8000-0000000000b1"));
    assert_eq!(n.expected.len(), 2);
    assert!(n.pulls.values().all(|p| p.succeeded_at.is_some()));
    assert!(n.current && n.first_in_group && n.delivered());
    assert_eq!(m.notifications.iter().count(), 1);
    assert!(m.index.get("no|such").is_none());
}

/// A receiver's body that is byte for byte one the sender logged, but not the one the model
/// keeps for the notification (the sender sent two different bodies): read in full again, with
/// the same findings as when nothing could be matched (received log in CSV).
#[test]
fn a_received_body_matching_another_sent_body_is_read_in_full() {
    let id = "00000000-0000-4000-8000-0000000000c1";
    let first = task(id, "gc");
    let mut second = first.clone();
    second["status"] = json!("draft");
    second["authoredOn"] = json!("2026-11-19T09:30:00+01:00");
    let story = |dir: &std::path::Path, csv: bool| {
        let sent = dir.join("sent.ndjson");
        let received = dir.join(if csv {
            "received.csv"
        } else {
            "received.ndjson"
        });
        std::fs::write(
            &sent,
            format!(
                "{}\n{}\n",
                notify("2026-11-19T09:00:00Z", Some(201), &first),
                notify("2026-11-19T09:40:00Z", Some(201), &second)
            ),
        )
        .unwrap();
        if csv {
            let mut w = csv::Writer::from_path(&received).unwrap();
            w.write_record(["ts", "interaction", "status", "task"])
                .unwrap();
            w.write_record(["2026-11-19T08:59:00Z", "notify", "201", &second.to_string()])
                .unwrap();
            w.flush().unwrap();
        } else {
            std::fs::write(
                &received,
                format!("{}\n", notify("2026-11-19T08:59:00Z", Some(201), &second)),
            )
            .unwrap();
        }
        let outcome = reconcile(&options(&sent, &received, &dir.join("out"))).unwrap();
        let mut f: Vec<_> = outcome
            .findings
            .iter()
            .map(|f| {
                (
                    f.category,
                    f.notification.clone(),
                    f.request.clone(),
                    f.detail.clone(),
                )
            })
            .collect();
        f.sort();
        (
            f,
            outcome.model.get(&key(id)).unwrap().malformations.clone(),
        )
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ndjson, m1) = story(a.path(), false);
    let (csv, m2) = story(b.path(), true);
    assert_eq!(ndjson, csv);
    assert_eq!(m1, m2);
    assert_eq!(m1, vec!["status is not 'requested'"]);
}
