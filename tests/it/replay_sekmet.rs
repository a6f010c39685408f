//! Replay against a real sending system: sekmet-fhir (a FHIR R4 server from PyPI, installed by
//! `scripts/test` into the venv named by PULLRECON_PYTHON), loaded with `sample-data/sender/`.
//! End to end: the sample day reconciled, replayed, reconciled again with the replayed log: the
//! replayable findings are gone, and what is left is explained in `replay_attempts` (parked,
//! refused). And mitmproxy's `mitmdump` in reverse mode in front of sekmet, injecting 503, 429
//! with Retry-After and latency: the replay retries through them and follows sekmet's pages.

use crate::common::*;
use crate::replay::*;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use pullrecon::bsn::Pseudonymiser;
use pullrecon::job::{Dur, SecretSource, TokenSource};
use pullrecon::reconcile::reconcile;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "sekmet-test-token-7f3a";
const ORGS: [(&str, &str); 3] = [
    (
        "http://fhir.nl/fhir/NamingSystem/ura|32109876",
        "https://fhir.amstelrade.example/fhir",
    ),
    (
        "http://fhir.nl/fhir/NamingSystem/ura|20481632",
        "https://fhir.delinde.example/fhir",
    ),
    (
        "http://fhir.nl/fhir/NamingSystem/ura|41872305",
        "https://fhir.waterland.example/fhir",
    ),
];

/// A program of the test venv (`scripts/test` sets PULLRECON_PYTHON).
fn venv_bin(name: &str) -> PathBuf {
    let py = std::env::var("PULLRECON_PYTHON").expect(
        "PULLRECON_PYTHON is not set: run scripts/test, which installs sekmet-fhir and mitmproxy",
    );
    let p = Path::new(&py).parent().unwrap().join(name);
    assert!(p.exists(), "{} is missing: run scripts/test", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(url: &str, child: &mut Proc) {
    let http = reqwest::Client::new();
    for _ in 0..240 {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{url}: the server exited with {status}");
        }
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{url} did not answer within 60 s");
}

/// Starts sekmet-fhir on a free port; `public` is the base it writes into links (a proxy's).
async fn sekmet(dir: &Path, public: Option<&str>) -> (Proc, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/fhir");
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        format!(
            "host: 127.0.0.1\nport: {port}\nbase_url: {}\ndata_dir: {}\nlog_inbound: false\n\
             server_auth:\n  types: [bearer]\n  tokens: [{TOKEN}]\nsimulator:\n  enabled: false\n",
            public.unwrap_or(&base),
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = Proc(
        Command::new(venv_bin("sekmet"))
            .args(["serve", "-c"])
            .arg(&settings)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sekmet.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_ready(&format!("{base}/metadata"), &mut child).await;
    // Load what the senders still hold.
    let http = reqwest::Client::new();
    let folder = repo().join("sample-data/sender");
    for t in std::fs::read_dir(&folder).unwrap().flatten() {
        if !t.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(t.path()).unwrap().flatten() {
            let body = std::fs::read_to_string(f.path()).unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            let url = format!(
                "{base}/{}/{}",
                v["resourceType"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            );
            let r = http
                .put(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "PUT {url}: {}", r.status());
        }
    }
    (child, base)
}

/// The sample logs with the three senders' bases pointed at `base`.
fn sample_pointed_at(dir: &Path, base: &str) -> (PathBuf, PathBuf) {
    let sample = repo().join("sample-data");
    for side in ["sent", "received"] {
        std::fs::create_dir_all(dir.join(side)).unwrap();
        for f in std::fs::read_dir(sample.join(side)).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(f.path()).unwrap();
            let gz = name.ends_with(".gz");
            let mut text = if gz {
                let mut s = String::new();
                GzDecoder::new(&bytes[..]).read_to_string(&mut s).unwrap();
                s
            } else {
                String::from_utf8(bytes).unwrap()
            };
            for (_, b) in ORGS {
                text = text.replace(b, base);
            }
            let target = dir.join(side).join(&name);
            if gz {
                let mut e = GzEncoder::new(Vec::new(), Compression::default());
                e.write_all(text.as_bytes()).unwrap();
                std::fs::write(target, e.finish().unwrap()).unwrap();
            } else {
                std::fs::write(target, text).unwrap();
            }
        }
    }
    (dir.join("sent"), dir.join("received"))
}

fn replayable(
    o: &pullrecon::reconcile::Outcome,
) -> BTreeSet<(String, Option<String>, &'static str)> {
    o.findings
        .iter()
        .filter(|f| f.replayable)
        .map(|f| {
            (
                f.notification.clone().unwrap(),
                f.request.clone(),
                f.category,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_replayed_against_sekmet_leaves_only_explained_items() {
    let dir = tempfile::tempdir().unwrap();
    let (_sekmet, base) = sekmet(dir.path(), None).await;
    let (sent, received) = sample_pointed_at(dir.path(), &base);
    let out = dir.path().join("out");
    let key = Pseudonymiser::new(Some(b"e2e-key".to_vec()));
    let mut o = options(&sent, &received, &out);
    o.pseudonymiser = key.clone();
    o.senders = ORGS
        .iter()
        .map(|(org, _)| (org.to_string(), base.clone()))
        .collect();
    let first = reconcile(&o).unwrap();
    // The same ten replayable findings as the sample's hand-written list.
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("sample-data/expected-findings.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<(String, Option<String>, String)> = expected
        .iter()
        .filter(|f| f["replayable"] == true)
        .map(|f| {
            (
                f["notification"].as_str().unwrap().to_owned(),
                f["request"].as_str().map(str::to_owned),
                f["category"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let got: BTreeSet<(String, Option<String>, String)> = replayable(&first)
        .into_iter()
        .map(|(a, b, c)| (a, b, c.to_owned()))
        .collect();
    assert_eq!(got, want);

    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let mut cfg = config(&out);
    cfg.pseudonymiser = Some(key.clone());
    cfg.clock_start = Some(pullrecon::time::parse_rfc3339("2026-11-20T04:50:00Z").unwrap());
    cfg.limits.timeout = Dur(30);
    cfg.senders = ORGS
        .iter()
        .map(|(org, _)| {
            sender(
                org,
                &base,
                TokenSource::Static(SecretSource {
                    env: None,
                    file: Some(token.clone()),
                }),
            )
        })
        .collect();
    let sum = replay(&cfg).await;
    assert_eq!((sum.failed, sum.deferred), (0, 0), "{sum:?}");
    assert!(sum.succeeded >= 16, "{sum:?}");
    let rows = attempt_rows(&out);

    // Reconciled again with the replayed log as extra received input.
    let mut o2 = o.clone();
    o2.received.push(
        pullrecon::replay::replayed_log_dir(&out)
            .display()
            .to_string(),
    );
    o2.out = dir.path().join("out2");
    let second = reconcile(&o2).unwrap();
    let left = replayable(&second);
    let explained = |n: &str, r: &Option<String>| {
        rows.iter().any(|x| {
            x.notification == n
                && (x.decision == "parked" || x.decision == "refused")
                && r.as_deref()
                    .is_none_or(|r| pullrecon::fhir::request::redact_bsn(r) == x.request)
        })
    };
    for (n, r, cat) in &left {
        assert!(
            explained(n, r),
            "{cat} {n} {r:?} is still replayable and not explained"
        );
    }
    for (n, r, cat) in replayable(&first) {
        let still = left.iter().any(|(n2, r2, _)| *n2 == n && *r2 == r);
        assert!(!still || explained(&n, &r), "{cat} {n} {r:?}");
    }
    assert_eq!(left.len(), 1, "{left:?}");
    let parked = rows_of(&rows, "DocumentReference/amstelrade-brief-88213");
    assert_eq!(
        (parked[0].status, parked[0].decision.as_str()),
        (Some(404), "parked")
    );
    let refused: Vec<_> = rows.iter().filter(|r| r.decision == "refused").collect();
    assert_eq!(refused.len(), 2);
    assert!(
        refused.iter().all(|r| r.reason.as_deref()
            == Some("the Workflow Task is no longer active (status completed)"))
    );
    // The delivery findings are gone: the replay took the notifications in.
    for cat in [
        "notification-undelivered",
        "notification-lost",
        "update-missed",
    ] {
        assert!(
            second
                .findings
                .iter()
                .all(|f| f.category != cat || !f.replayable),
            "{cat}"
        );
    }
    // Real search semantics: _include brought the Specimen along.
    let lab = rows_of(
        &rows,
        "Observation?category=http://snomed.info/sct%7C275711006&_include=Observation:specimen",
    );
    assert_eq!(lab[0].resources, Some(2));
    assert!(rows.iter().filter(|r| r.attempt.is_some()).all(|r| {
        r.patient.as_deref().is_some_and(|p| p.len() == 64)
            || r.kind == "get-workflow-task"
            || r.patient.is_none()
    }));
    assert_no_secrets(&out.join("replay_attempts"), &[TOKEN]);
    assert_no_secrets(&out.join("replayed"), &[TOKEN]);
}

const ADDON: &str = r#"
import asyncio
from mitmproxy import http

seen = {}

async def request(flow: http.HTTPFlow):
    await asyncio.sleep(0.1)
    k = flow.request.path
    if "_offset=" in k:
        return
    n = seen.get(k, 0)
    seen[k] = n + 1
    if n == 0:
        flow.response = http.Response.make(503, b'{"resourceType":"OperationOutcome"}',
                                           {"Content-Type": "application/fhir+json"})
    elif n == 1:
        flow.response = http.Response.make(429, b"", {"Retry-After": "1"})
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_injected_by_mitmproxy_in_front_of_sekmet_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = free_port();
    let proxy_base = format!("http://127.0.0.1:{proxy_port}/fhir");
    let (_sekmet, base) = sekmet(dir.path(), Some(&proxy_base)).await;
    let addon = dir.path().join("faults.py");
    std::fs::write(&addon, ADDON).unwrap();
    let origin = base.trim_end_matches("/fhir");
    let mut proxy = Proc(
        Command::new(venv_bin("mitmdump"))
            .arg("--mode")
            .arg(format!("reverse:{origin}"))
            .args([
                "--listen-host",
                "127.0.0.1",
                "--listen-port",
                &proxy_port.to_string(),
                "-q",
                "-s",
            ])
            .arg(&addon)
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Readiness through the proxy (this burns the 503 and the 429 of /fhir/metadata).
    wait_ready(&format!("{proxy_base}/metadata"), &mut proxy).await;
    let notices = vec![
        Notice::new(1).inputs(vec![read_input(
            "DocumentReference/waterland-overdracht-3310",
        )]),
        Notice::new(2).inputs(vec![search_input("Observation?_count=1")]),
    ];
    let (out, _) = story(dir.path(), &notices, &[]);
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let mut cfg = config(&out);
    cfg.clock_start = None;
    cfg.limits.backoff_base = Dur(1);
    cfg.limits.backoff_cap = Dur(2);
    cfg.senders = vec![sender(
        ORG_A,
        &proxy_base,
        TokenSource::Static(SecretSource {
            env: None,
            file: Some(token),
        }),
    )];
    let sum = replay(&cfg).await;
    assert_eq!(sum.succeeded, 2, "{sum:?}");
    let rows = attempt_rows(&out);
    for r in [
        "DocumentReference/waterland-overdracht-3310",
        "Observation?_count=1",
    ] {
        let x = rows_of(&rows, r);
        let seq: Vec<(Option<i64>, &str)> =
            x.iter().map(|r| (r.status, r.decision.as_str())).collect();
        assert_eq!(
            seq,
            [
                (Some(503), "retry"),
                (Some(429), "retry"),
                (Some(200), "succeeded")
            ],
            "{r}"
        );
        assert_eq!(x[1].retry_after_s, Some(1));
        assert_eq!(x[1].wait_ms, Some(1000));
    }
    // sekmet paged the search one entry at a time; every page came through the proxy's origin.
    let search = rows_of(&rows, "Observation?_count=1");
    assert_eq!(search[2].pages, Some(4), "{search:?}");
    assert_eq!(search[2].resources, Some(4));
}
