//! Replay safety against real loopback servers: requests go only to the configured origin of the
//! sender (an absolute Task URL, a `next` link or a redirect to another origin is refused and
//! recorded, and the other server sees nothing), same-origin pages and redirects are followed,
//! bodies are capped, a log base on another origin or a missing base means nothing is sent, the
//! expiry is re-checked against the clock; tokens: client credentials with the
//! authorization-base, renewed once on 401, then the sender is stopped; static tokens from a file.

use crate::common::*;
use crate::replay::*;
use pullrecon::job::{SecretSource, Size, TokenSource};
use serde_json::json;
use std::sync::Arc;

fn one_read(n: usize) -> Notice {
    Notice::new(n).inputs(vec![read_input(&format!("DocumentReference/doc-{n}"))])
}

fn nothing() -> Script {
    Arc::new(|seen: &Seen, _| Reply::fhir(&seen.request))
}

#[tokio::test(start_paused = true)]
async fn other_origins_are_refused_and_never_contacted() {
    let evil = TestSender::start(nothing()).await;
    let evil_base = evil.base.clone();
    let good = TestSender::start(Arc::new(move |seen: &Seen, _| match seen.request.as_str() {
        "Observation?code=paged" => Reply::json(json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": "p1"}}],
            "link": [{"relation": "next", "url": "Observation?code=paged&page=2"}]})),
        "Observation?code=paged&page=2" => Reply::json(json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": "p2"}}]})),
        "Observation?code=escape" => Reply::json(json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": "e1"}}],
            "link": [{"relation": "next", "url": format!("{evil_base}/Observation?code=escape&page=2")}]})),
        "DocumentReference/moved" => Reply::status(302).header("location", format!("{evil_base}/DocumentReference/moved")),
        "DocumentReference/here" => Reply::status(307).header("location", "/fhir/DocumentReference/there"),
        r => Reply::fhir(r),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let notices = vec![
        Notice::new(1).inputs(vec![read_input(&format!("{}/Patient/stolen", evil.base))]),
        Notice::new(2).inputs(vec![search_input("Observation?code=paged")]),
        Notice::new(3).inputs(vec![search_input("Observation?code=escape")]),
        Notice::new(4).inputs(vec![read_input("DocumentReference/moved")]),
        Notice::new(5).inputs(vec![read_input("DocumentReference/here")]),
    ];
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &good.base)]);
    let sum = replay(&config(&out)).await;
    assert_eq!((sum.succeeded, sum.refused), (2, 3), "{sum:?}");
    assert!(
        evil.requests().is_empty(),
        "the other origin was contacted: {:?}",
        evil.requests()
    );
    let rows = attempt_rows(&out);
    let one = rows_of(&rows, "Patient/stolen");
    assert_eq!(
        (one[0].decision.as_str(), one[0].attempt),
        ("refused", None)
    );
    assert_eq!(
        one[0].reason.as_deref(),
        Some("the Task names an absolute URL on another origin")
    );
    let paged = rows_of(&rows, "Observation?code=paged");
    assert_eq!((paged[0].pages, paged[0].resources), (Some(2), Some(2)));
    let esc = rows_of(&rows, "Observation?code=escape");
    assert_eq!(esc.len(), 1, "a refusal is not retried");
    assert_eq!(
        (esc[0].class.as_str(), esc[0].decision.as_str()),
        ("refused", "refused")
    );
    assert!(
        esc[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("next link to another origin")
    );
    let moved = rows_of(&rows, "DocumentReference/moved");
    assert_eq!(
        (moved[0].status, moved[0].decision.as_str()),
        (Some(302), "refused")
    );
    assert!(
        moved[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("redirect to another origin refused")
    );
    assert_eq!(
        rows_of(&rows, "DocumentReference/here")[0].decision,
        "succeeded"
    );
    assert!(
        good.requests()
            .contains(&"DocumentReference/there".to_owned())
    );
    // Nothing of the escaped search landed (its first page came from the right origin, but the
    // search as a whole was refused).
    let landed: String = std::fs::read_dir(out.join("landing/date=2026-11-20"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .collect();
    assert!(
        landed.contains("\"p2\"") && !landed.contains("\"e1\""),
        "{landed}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_matching_configured_base_nothing_is_sent() {
    let s = TestSender::start(nothing()).await;
    let dir = tempfile::tempdir().unwrap();
    let notices = vec![
        Notice {
            sender_base: Some("https://fhir.elsewhere.example/fhir".into()),
            ..one_read(1)
        },
        Notice {
            org: ORG_B,
            ..one_read(2)
        },
        Notice {
            sender_base: Some(s.base.clone()),
            ..one_read(3)
        },
    ];
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    let sum = replay(&config(&out)).await;
    assert_eq!((sum.succeeded, sum.refused), (1, 2), "{sum:?}");
    assert_eq!(s.requests(), ["DocumentReference/doc-3"]);
    let rows = attempt_rows(&out);
    assert!(
        rows_of(&rows, "DocumentReference/doc-1")[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("the log's sender_base is on another origin than the base configured")
    );
    assert_eq!(
        rows_of(&rows, "DocumentReference/doc-2")[0]
            .reason
            .as_deref(),
        Some(format!("no base is configured for the sending organisation {ORG_B}").as_str())
    );
}

#[tokio::test(start_paused = true)]
async fn expiry_is_checked_against_the_clock_and_bodies_are_capped() {
    let s = TestSender::start(Arc::new(|seen: &Seen, _| match seen.request.as_str() {
        "DocumentReference/doc-2" => Reply::json(
            json!({"resourceType": "DocumentReference", "id": "d", "text": "x".repeat(5000)}),
        ),
        r => Reply::fhir(r),
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let notices = vec![
        Notice {
            expires: "2026-11-20T05:30:00Z".into(),
            ..one_read(1)
        },
        one_read(2),
    ];
    let (out, outcome) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    assert_eq!(
        outcome.findings.iter().filter(|f| f.replayable).count(),
        2,
        "not expired at as-of"
    );
    let mut cfg = config(&out);
    cfg.limits.max_body = Size(1024);
    let sum = replay(&cfg).await;
    assert_eq!((sum.refused, sum.parked), (1, 1), "{sum:?}");
    assert_eq!(s.requests(), ["DocumentReference/doc-2"]);
    let rows = attempt_rows(&out);
    assert_eq!(
        rows_of(&rows, "DocumentReference/doc-1")[0]
            .reason
            .as_deref(),
        Some("expired at 2026-11-20T05:30:00Z")
    );
    let big = rows_of(&rows, "DocumentReference/doc-2");
    assert_eq!(
        (big[0].class.as_str(), big[0].decision.as_str()),
        ("too-large", "parked")
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_renewed_once_with_the_authorization_base() {
    let s = TestSender::start(Arc::new(|seen: &Seen, nth| {
        if seen.request == "token" {
            return Reply::json(
                json!({"access_token": format!("tok-{}", nth + 1), "expires_in": 3600}),
            );
        }
        match seen.auth.as_deref() {
            Some("Bearer tok-2") => Reply::fhir(&seen.request),
            _ => Reply::status(401),
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "s3cr3t-client\n").unwrap();
    let (out, _) = story(dir.path(), &[Notice::new(1)], &[]);
    let mut cfg = config(&out);
    cfg.limits.concurrency = 1;
    cfg.senders = vec![sender(
        ORG_A,
        &s.base,
        TokenSource::ClientCredentials {
            token_url: format!("{}/token", s.base),
            client_id: "pullrecon-test".into(),
            client_secret: SecretSource {
                env: None,
                file: Some(secret),
            },
            scope: Some("read".into()),
        },
    )];
    let sum = replay(&cfg).await;
    assert_eq!((sum.succeeded, sum.failed), (2, 0), "{sum:?}");
    let seen = s.seen();
    let tokens: Vec<_> = seen.iter().filter(|x| x.request == "token").collect();
    assert_eq!(
        tokens.len(),
        2,
        "one token, then one renewal (cached for the second request)"
    );
    let form = tokens[0].form.as_deref().unwrap();
    assert!(
        form.contains(&format!("authorization_base={AUTH_BASE}")),
        "{form}"
    );
    assert!(
        form.contains("client_secret=s3cr3t-client")
            && form.contains("grant_type=client_credentials")
    );
    let rows = attempt_rows(&out);
    let d: Vec<&str> = rows.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(d, ["renew-token", "succeeded", "succeeded"]);
    assert_eq!(rows[0].status, Some(401));
    assert_eq!((rows[0].attempt, rows[1].attempt), (Some(1), Some(2)));
    assert_no_secrets(&out, &[AUTH_BASE, "tok-1", "tok-2", "s3cr3t-client", BSN]);
}

#[tokio::test(start_paused = true)]
async fn a_sender_that_refuses_the_renewed_token_is_stopped_for_the_run() {
    let s = TestSender::start(Arc::new(|seen: &Seen, _| {
        if seen.auth.as_deref() == Some("Bearer from-file") {
            Reply::status(403)
        } else {
            Reply::status(500)
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-file\n").unwrap();
    let notices: Vec<Notice> = (1..=4).map(one_read).collect();
    let (out, _) = story(dir.path(), &notices, &[]);
    let mut cfg = config(&out);
    cfg.limits.concurrency = 1;
    cfg.limits.per_host = 1;
    cfg.senders = vec![sender(
        ORG_A,
        &s.base,
        TokenSource::Static(SecretSource {
            env: None,
            file: Some(token),
        }),
    )];
    let sum = replay(&cfg).await;
    assert_eq!((sum.failed, sum.deferred), (1, 3), "{sum:?}");
    assert_eq!(sum.exit_code(), 3);
    assert_eq!(
        s.requests().len(),
        2,
        "the first item and its one retry with a renewed token"
    );
    let rows = attempt_rows(&out);
    let d: Vec<&str> = rows.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(
        d,
        ["renew-token", "failed", "deferred", "deferred", "deferred"]
    );
    assert!(
        rows[4]
            .reason
            .as_deref()
            .unwrap()
            .contains("stopped for this run")
    );
    assert_no_secrets(&out, &["from-file"]);
}
