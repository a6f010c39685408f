//! `pullrecon replay`: the shared harness of the replay tests (stories of notifications whose
//! requests were never pulled, a scriptable axum sender on loopback, reading `replay_attempts`
//! back with the `parquet` crate) and the tests of the plan, the command line and the sample.

use crate::common::*;
use crate::tables::{column_bool, column_i64, column_strings};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pullrecon::bsn::Pseudonymiser;
use pullrecon::job::{ReplayLimits, Sender, TokenSource};
use pullrecon::reconcile::{Outcome, reconcile};
use pullrecon::replay::{ReplayConfig, ReplaySummary, replay_latest_async};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What the test sender saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query after `/fhir/` (as sent).
    pub request: String,
    pub auth: Option<String>,
    pub traceparent: Option<String>,
    pub at: Instant,
    /// The form of a POST (the token endpoint).
    pub form: Option<String>,
}

/// What the test sender answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/fhir+json".into())],
            body: json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "transient"}]}).to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(v: Value) -> Reply {
        Reply {
            body: v.to_string(),
            ..Reply::status(200)
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// The ordinary answer to a FHIR request: a resource of the asked type, a one-entry
    /// `searchset` Bundle, or an in-progress Task without inputs.
    pub fn fhir(request: &str) -> Reply {
        let (path, query) = request.split_once('?').unwrap_or((request, ""));
        let mut segs = path.split('/');
        let rtype = segs.next().unwrap_or_default();
        match segs.next() {
            Some(id) if query.is_empty() => {
                let mut r = json!({"resourceType": rtype, "id": id});
                if rtype == "Task" {
                    r["status"] = json!("in-progress");
                    r["intent"] = json!("order");
                }
                Reply::json(r)
            }
            _ => Reply::json(
                json!({"resourceType": "Bundle", "type": "searchset", "total": 1,
                "entry": [{"resource": {"resourceType": rtype, "id": "x1"}, "search": {"mode": "match"}}]}),
            ),
        }
    }
}

/// The script: (what was seen, how many times this request was seen before) → the answer.
pub type Script = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A scriptable FHIR sender on 127.0.0.1 (in the test's runtime).
#[derive(Clone)]
pub struct TestSender {
    pub base: String,
    pub origin: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl TestSender {
    pub async fn start(script: Script) -> TestSender {
        Self::start_shared(
            script,
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        )
        .await
        .0
    }

    /// Also counts requests in flight over several senders (`all`, `all_max`).
    pub async fn start_shared(
        script: Script,
        all: Arc<AtomicUsize>,
        all_max: Arc<AtomicUsize>,
    ) -> (TestSender, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let s = TestSender {
            base: format!("{origin}/fhir"),
            origin,
            seen: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
        };
        let st = s.clone();
        let (all2, all_max2) = (all.clone(), all_max.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let st = st.clone();
            let script = script.clone();
            let (all, all_max) = (all2.clone(), all_max2.clone());
            async move { handle(st, script, all, all_max, req).await }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (s, all_max)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.request).collect()
    }
}

async fn handle(
    st: TestSender,
    script: Script,
    all: Arc<AtomicUsize>,
    all_max: Arc<AtomicUsize>,
    req: Request,
) -> Response {
    let uri = req.uri().clone();
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request = pq.strip_prefix("/fhir/").unwrap_or(pq).to_owned();
    let (auth, traceparent) = {
        let h = req.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (get("authorization"), get("traceparent"))
    };
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen {
        request: request.clone(),
        auth,
        traceparent,
        at: Instant::now(),
        form: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
    };
    let nth = {
        let mut log = st.seen.lock().unwrap();
        let n = log.iter().filter(|s| s.request == request).count();
        log.push(seen.clone());
        n
    };
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let now_all = all.fetch_add(1, Ordering::SeqCst) + 1;
    all_max.fetch_max(now_all, Ordering::SeqCst);
    let reply = script(&seen, nth);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    st.in_flight.fetch_sub(1, Ordering::SeqCst);
    all.fetch_sub(1, Ordering::SeqCst);
    let mut r = (
        axum::http::StatusCode::from_u16(reply.status).unwrap(),
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

/// One notification of a replay story: its Task inputs (as written) and options.
#[derive(Clone)]
pub struct Notice {
    pub id: String,
    pub inputs: Vec<Value>,
    pub org: &'static str,
    pub sender_base: Option<String>,
    pub expires: String,
    pub based_on: Option<String>,
}

pub const PARAM: &str = "http://fhir.nl/fhir/NamingSystem/TaskParameter";

pub fn read_input(reference: &str) -> Value {
    json!({"type": {"coding": [{"system": PARAM, "code": "read-available-resource"}]}, "valueReference": {"reference": reference}})
}

pub fn search_input(query: &str) -> Value {
    json!({"type": {"coding": [{"system": PARAM, "code": "query-available-resources"}]}, "valueString": query})
}

impl Notice {
    /// A notification of sender A with one read (`DocumentReference/doc-<n>`) and one search
    /// (`Observation?code=<n>`), valid until 2099.
    pub fn new(n: usize) -> Notice {
        Notice {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            inputs: vec![
                read_input(&format!("DocumentReference/doc-{n}")),
                search_input(&format!("Observation?code={n}")),
            ],
            org: ORG_A,
            sender_base: None,
            expires: "2099-01-01T00:00:00Z".into(),
            based_on: None,
        }
    }

    pub fn inputs(mut self, inputs: Vec<Value>) -> Notice {
        self.inputs = inputs;
        self
    }

    fn task(&self) -> Value {
        let mut t = task(&self.id, &format!("{}-group", self.id));
        let mut inputs = vec![
            json!({"type": {"coding": [{"system": PARAM, "code": "authorization-base"}]}, "valueString": AUTH_BASE}),
        ];
        inputs.extend(self.inputs.iter().cloned());
        if let Some(wf) = &self.based_on {
            t["basedOn"] = json!([{"reference": format!("Task/{wf}")}]);
            inputs.push(json!({"type": {"coding": [{"system": PARAM, "code": "get-workflow-task"}]}, "valueBoolean": true}));
        }
        t["input"] = Value::Array(inputs);
        t["restriction"]["period"]["end"] = json!(self.expires);
        let (system, value) = self.org.split_once('|').unwrap();
        t["requester"]["onBehalfOf"]["identifier"] = json!({"system": system, "value": value});
        t
    }
}

/// Writes the logs of notifications that were delivered and never pulled (so each request is a
/// replayable `pull-missing`), reconciles them into `out` as of `AS_OF` with `senders`.
pub fn story(dir: &Path, notices: &[Notice], senders: &[(&str, &str)]) -> (PathBuf, Outcome) {
    let mut s = Story::new();
    for n in notices {
        let t = n.task();
        let mut sent = notify("2026-11-19T09:00:00Z", Some(201), &t);
        if let Some(b) = &n.sender_base {
            sent["sender_base"] = json!(b);
        }
        s = s
            .sent(sent)
            .received(notify("2026-11-19T09:00:01Z", Some(201), &t));
    }
    let (sent, received) = s.write(dir);
    let out = dir.join("out");
    let mut o = options(&sent, &received, &out);
    o.senders = senders
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect::<BTreeMap<_, _>>();
    let outcome = reconcile(&o).unwrap();
    (out, outcome)
}

/// The replay clock of the tests: an hour after `AS_OF`.
pub fn test_clock() -> i64 {
    pullrecon::time::parse_rfc3339(AS_OF).unwrap() + 3600 * 1_000_000
}

/// A replay configuration for tests: quick limits, a pinned clock, a fixed jitter seed.
pub fn config(out: &Path) -> ReplayConfig {
    ReplayConfig {
        out: out.to_path_buf(),
        limits: ReplayLimits {
            concurrency: 8,
            per_host: 4,
            max_attempts: 5,
            batch_size: 10,
            attempts_per_run: 3,
            ..ReplayLimits::default()
        },
        pseudonymiser: Some(Pseudonymiser::new(Some(b"test-key".to_vec()))),
        clock_start: Some(test_clock()),
        seed: Some(42),
        ..ReplayConfig::default()
    }
}

pub fn sender(org: &str, base: &str, token: TokenSource) -> Sender {
    Sender {
        organisation: org.into(),
        base: base.into(),
        token,
    }
}

pub async fn replay(cfg: &ReplayConfig) -> ReplaySummary {
    replay_latest_async(cfg).await.unwrap()
}

/// One `replay_attempts` row, read back with the `parquet` crate.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub run_id: String,
    pub item: String,
    pub notification: String,
    pub request: String,
    pub kind: String,
    pub attempt: Option<i64>,
    pub status: Option<i64>,
    pub class: String,
    pub decision: String,
    pub reason: Option<String>,
    pub retry_after_s: Option<i64>,
    pub wait_ms: Option<i64>,
    pub resources: Option<i64>,
    pub pages: Option<i64>,
    pub traceparent: Option<String>,
    pub patient: Option<String>,
    pub on_behalf_of: Option<String>,
    pub acting_system: String,
    pub outcome: String,
    pub guard: bool,
}

/// Every row of `replay_attempts` under `out`, file by file (oldest run first).
pub fn attempt_rows(out: &Path) -> Vec<AttemptRow> {
    let mut rows = Vec::new();
    for f in parquet_files(&out.join("replay_attempts")) {
        for b in read_batches(&f) {
            let s = |c: &str| column_strings(&b, c);
            let i = |c: &str| column_i64(&b, c);
            let (run, item, notification, request, kind) = (
                s("run_id"),
                s("item"),
                s("notification"),
                s("request"),
                s("kind"),
            );
            let (attempt, status, class, decision, reason) = (
                i("attempt"),
                i("status"),
                s("class"),
                s("decision"),
                s("reason"),
            );
            let (ra, wait, res, pages, tp) = (
                i("retry_after_s"),
                i("wait_ms"),
                i("resources"),
                i("pages"),
                s("traceparent"),
            );
            let (patient, behalf, acting, outcome, guard) = (
                s("patient"),
                s("on_behalf_of"),
                s("acting_system"),
                s("outcome"),
                column_bool(&b, "guard"),
            );
            for r in 0..b.num_rows() {
                rows.push(AttemptRow {
                    run_id: run[r].clone().unwrap(),
                    item: item[r].clone().unwrap(),
                    notification: notification[r].clone().unwrap(),
                    request: request[r].clone().unwrap(),
                    kind: kind[r].clone().unwrap(),
                    attempt: attempt[r],
                    status: status[r],
                    class: class[r].clone().unwrap(),
                    decision: decision[r].clone().unwrap(),
                    reason: reason[r].clone(),
                    retry_after_s: ra[r],
                    wait_ms: wait[r],
                    resources: res[r],
                    pages: pages[r],
                    traceparent: tp[r].clone(),
                    patient: patient[r].clone(),
                    on_behalf_of: behalf[r].clone(),
                    acting_system: acting[r].clone().unwrap(),
                    outcome: outcome[r].clone().unwrap(),
                    guard: guard[r].unwrap(),
                });
            }
        }
    }
    rows
}

/// The rows of one request (by its text, redacted as written).
pub fn rows_of<'a>(rows: &'a [AttemptRow], request: &str) -> Vec<&'a AttemptRow> {
    rows.iter().filter(|r| r.request == request).collect()
}

/// Every file under a folder, as text (lossy), for secret scans.
pub fn all_text(dir: &Path) -> Vec<(PathBuf, String)> {
    all_files(dir)
        .into_iter()
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p, text)
        })
        .collect()
}

/// No BSN, authorization-base or token in any file under `dir` except the landing zone (the
/// retrieved data itself) and the replayed log's request texts.
pub fn assert_no_secrets(dir: &Path, secrets: &[&str]) {
    assert!(dir.is_dir(), "{} is not a folder", dir.display());
    for (p, text) in all_text(dir) {
        if p.components().any(|c| c.as_os_str() == "landing") {
            continue;
        }
        for s in secrets {
            assert!(!text.contains(s), "{} holds a secret", p.display());
        }
    }
}

// ---- the plan and the command line ----

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = bin()
        .args([
            "reconcile",
            "--sent",
            "sample-data/sent",
            "--received",
            "sample-data/received",
        ])
        .args(["--as-of", AS_OF, "-q", "--out"])
        .arg(&out)
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(3));
    let r = bin()
        .args(["replay", "--dry-run", "--out"])
        .arg(&out)
        .args([
            "--sender",
            "http://fhir.nl/fhir/NamingSystem/ura|32109876=https://fhir.amstelrade.example/fhir",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // The sample's ten replayable findings stand for 15 requests; A's go to its configured base,
    // the others have no configured base.
    assert!(
        stdout.contains("items: 15 to do (9 refused, 0 parked)"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("send")
            && l.contains("read              DocumentReference/amstelrade-brief-88213")),
        "{stdout}"
    );
    assert!(
        stdout.contains("→ https://fhir.amstelrade.example"),
        "{stdout}"
    );
    assert!(stdout.contains("no base is configured for the sending organisation http://fhir.nl/fhir/NamingSystem/ura|20481632"));
    assert!(!out.join("replay_attempts").exists() && !out.join("_replay").exists());
    assert!(!out.join("replayed").exists() && !out.join("landing").exists());
}

#[test]
fn a_changed_or_missing_input_stops_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = story(dir.path(), &[Notice::new(1)], &[]);
    let received = dir.path().join("received.ndjson");
    let mut text = std::fs::read_to_string(&received).unwrap();
    text.push('\n');
    std::fs::write(&received, &text).unwrap();
    let r = bin().args(["replay", "--out"]).arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("changed since the run") && err.contains("received.ndjson"),
        "{err}"
    );
    std::fs::remove_file(&received).unwrap();
    let r = bin().args(["replay", "--out"]).arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot be read"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let r = bin()
        .args(["replay", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let r = bin()
        .args(["replay", "--concurrency", "0", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
}

/// `run` hands the replay its first reconcile's analysis instead of letting it hash and read the
/// inputs again: the plan is the same line for line, it is taken even once an input has changed
/// (it is the analysis of what was read), and an analysis of another run is not taken.
#[tokio::test]
async fn a_handed_over_analysis_plans_what_reading_the_inputs_again_plans() {
    let dir = tempfile::tempdir().unwrap();
    let senders = [(ORG_A, "https://fhir.a.example/fhir")];
    let notices = [Notice::new(1), Notice::new(2), Notice::new(3)];
    let (out, outcome) = story(dir.path(), &notices, &senders);
    let mut cfg = config(&out);
    cfg.dry_run = true;
    let read_again = replay(&cfg).await.text;
    assert!(read_again.contains("items: "), "{read_again}");
    let first_line = |t: &str| t.lines().next().unwrap_or_default().to_owned();
    assert!(first_line(&read_again).contains(&outcome.run.run_id));

    let analysed = std::sync::Arc::new(outcome);
    let handed = ReplayConfig {
        analysed: Some(analysed.clone()),
        ..cfg.clone()
    };
    assert_eq!(replay(&handed).await.text, read_again);

    // An input changes: reading it again is refused, the analysis made before is still taken.
    let received = dir.path().join("received.ndjson");
    let mut text = std::fs::read_to_string(&received).unwrap();
    text.push('\n');
    std::fs::write(&received, &text).unwrap();
    let err = format!("{:#}", replay_latest_async(&cfg).await.unwrap_err());
    assert!(err.contains("changed since the run"), "{err}");
    assert_eq!(replay(&handed).await.text, read_again);

    // A newer run in the folder: the analysis of the older one is not taken.
    let (sent, received) = (dir.path().join("sent.ndjson"), received);
    reconcile(&options(&sent, &received, &out)).unwrap();
    let newer = replay(&handed).await.text;
    assert!(
        !first_line(&newer).contains(&analysed.run.run_id),
        "{newer}"
    );
}

/// The sample day replayed against the embedded sender serving `sample-data/sender/`.
#[tokio::test]
async fn the_sample_replays_against_the_embedded_sender() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sample = repo().join("sample-data");
    let mut o = options(&sample.join("sent"), &sample.join("received"), &out);
    o.pseudonymiser = Pseudonymiser::new(Some(b"test-key".to_vec()));
    reconcile(&o).unwrap();
    let mut cfg = config(&out);
    cfg.embedded_sender = Some(sample.join("sender"));
    cfg.clock_start = Some(pullrecon::time::parse_rfc3339("2026-11-20T05:30:00Z").unwrap());
    let s = replay(&cfg).await;
    // 15 planned + F15's two Workflow Task inputs found by reading it + F14's two refused.
    assert_eq!(
        (
            s.planned,
            s.succeeded,
            s.parked,
            s.refused,
            s.failed,
            s.deferred
        ),
        (19, 16, 1, 2, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.exit_code(), 3);
    let rows = attempt_rows(&out);
    assert_eq!(rows.len(), 19, "{rows:#?}");
    let brief = rows_of(&rows, "DocumentReference/amstelrade-brief-88213");
    assert_eq!(brief.len(), 1);
    assert_eq!(
        (brief[0].decision.as_str(), brief[0].status),
        ("parked", Some(404))
    );
    assert!(
        brief[0].reason.as_deref().unwrap().contains("permanent"),
        "{brief:?}"
    );
    let refused: Vec<_> = rows.iter().filter(|r| r.decision == "refused").collect();
    assert_eq!(refused.len(), 2);
    for r in &refused {
        assert_eq!(
            r.reason.as_deref(),
            Some("the Workflow Task is no longer active (status completed)")
        );
    }
    for r in &rows {
        assert!(r.on_behalf_of.is_some());
        assert!(r.acting_system.starts_with("pullrecon/"));
        if r.attempt.is_some() {
            let tp = r.traceparent.as_deref().unwrap();
            assert!(tp.starts_with("00-") && tp.len() == 55, "{tp}");
            assert_eq!(
                r.outcome,
                if r.decision == "succeeded" {
                    "success"
                } else {
                    "failure"
                }
            );
        }
    }
    // A search with _include lands both resources.
    let lab = rows_of(
        &rows,
        "Observation?category=http://snomed.info/sct%7C275711006&_include=Observation:specimen",
    );
    assert_eq!(
        lab[0].resources,
        Some(4),
        "every Observation of the folder: {lab:?}"
    );
    let landed: usize = std::fs::read_dir(out.join("landing/date=2026-11-20"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count())
        .sum();
    assert!(landed >= 16, "{landed}");
    // No BSN or authorization-base of the sample in anything replay wrote.
    let sent =
        std::fs::read_to_string(sample.join("sent/notified-pull-2026-11-19.ndjson")).unwrap();
    let mut secrets: Vec<String> = Vec::new();
    for line in sent.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(b) = v["assertion_bsn"].as_str() {
            secrets.push(b.to_owned());
        }
        if let Some(b) = v["task"]["for"]["identifier"]["value"].as_str() {
            secrets.push(b.to_owned());
        }
        for i in v["task"]["input"].as_array().into_iter().flatten() {
            if i.to_string().contains("authorization-base") {
                secrets.push(i["valueString"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(secrets.len() > 20);
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for sub in ["replay_attempts", "replayed", "_replay", "landing"] {
        assert_no_secrets(&out.join(sub), &refs);
    }
    // A second replay repeats no success and does not retry the parked item.
    cfg.clock_start = Some(pullrecon::time::parse_rfc3339("2026-11-20T05:40:00Z").unwrap());
    let s2 = replay(&cfg).await;
    assert_eq!(
        (s2.succeeded, s2.already_done, s2.parked, s2.planned),
        (0, 14, 1, 1),
        "{s2:?}"
    );
    let rows2 = attempt_rows(&out);
    assert_eq!(parquet_files(&out.join("replay_attempts")).len(), 2);
    let again = rows_of(&rows2, "DocumentReference/amstelrade-brief-88213");
    assert_eq!(again.len(), 2);
    assert_eq!(
        (again[1].attempt, again[1].class.as_str()),
        (None, "not-sent")
    );
    assert!(
        again[1]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("parked earlier"),
        "{again:?}"
    );
}
