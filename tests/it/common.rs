//! Shared test harness: stories of log events built from the real example Tasks, run through the
//! library's `reconcile`, and helpers to run the binary and read Parquet back with the `parquet`
//! crate (an independent reader: polars wrote the files).

#![allow(dead_code)]

use pullrecon::bsn::Pseudonymiser;
use pullrecon::checks::Finding;
use pullrecon::reconcile::{Options, Outcome, reconcile};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub const AS_OF: &str = "2026-11-20T05:00:00Z";
pub const BASE_A: &str = "https://fhir.sender-a.example/fhir";
pub const ORG_A: &str = "http://fhir.nl/fhir/NamingSystem/ura|11112222";
pub const ORG_B: &str = "http://fhir.nl/fhir/NamingSystem/ura|33334444";
pub const RECEIVER: &str = "http://fhir.nl/fhir/NamingSystem/ura|99990000";
pub const BSN: &str = "172642863";
pub const BSN_2: &str = "111222333";
pub const BSN_BAD: &str = "123456789";
pub const AUTH_BASE: &str = "ZGFhNDFjY2MtZGFmMi00YjZkLThiNDYtN2JlZDk1MWEyYzk2";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A real example Task from `tests/fixtures/fhir-examples/`, as JSON.
pub fn example(file: &str) -> Value {
    let path = fixture("fhir-examples").join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub const NUTS_NOTIFICATION: &str =
    "nuts-knooppunt__mock-components_demo-ehr_notification-task.json";
pub const NUTS_WORKFLOW: &str = "nuts-knooppunt__mock-components_demo-ehr_workflow-task.json";
pub const BGZ_NOTIFICATION: &str =
    "nuts-use-case-profile-bgz-referral__README_appendix-notification-task.json";
pub const BGZ_WORKFLOW: &str =
    "nuts-use-case-profile-bgz-referral__README_appendix-workflow-task.json";
pub const TANP_NEW: &str = "tanp-draft-fsh__NewTask.converted.json";
pub const TANP_CANCEL: &str = "tanp-draft-fsh__CancelTask.converted.json";

/// A Notification Task shaped like the Nuts demo (STU3, BSN in `for`), with its own identifier,
/// group, sender, two requests (a read and a search) and an expiry after `AS_OF`.
pub fn task(id: &str, group: &str) -> Value {
    let mut t = example(NUTS_NOTIFICATION);
    t["identifier"] = json!([{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")}]);
    t["groupIdentifier"] =
        json!({"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{group}")});
    t["authoredOn"] = json!("2026-11-19T08:00:00+01:00");
    t["restriction"]["period"]["end"] = json!("2026-12-03T08:00:00+01:00");
    t["requester"]["onBehalfOf"]["identifier"] =
        json!({"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "11112222"});
    t["owner"]["identifier"] =
        json!({"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "99990000"});
    t["input"] = json!([
        {"type": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskParameter", "code": "authorization-base"}]},
         "valueString": AUTH_BASE},
        {"type": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskParameter", "code": "read-available-resource"}]},
         "valueReference": {"reference": "DocumentReference/brief-1"}},
        {"type": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskParameter", "code": "query-available-resources"}]},
         "valueString": "Observation?code=http%3A%2F%2Floinc.org%7C29463-7"}
    ]);
    t
}

/// The identifier key (`system|value`) of a task built by [`task`].
pub fn key(id: &str) -> String {
    format!("urn:ietf:rfc:3986|urn:uuid:{id}")
}

/// The two requests of [`task`], normalised.
pub const READ: &str = "DocumentReference/brief-1";
pub const SEARCH: &str = "Observation?code=http://loinc.org%7C29463-7";

/// One log line.
pub fn ev(ts: &str, interaction: &str, status: Option<u16>) -> Value {
    json!({"ts": ts, "interaction": interaction, "status": status})
}

pub fn notify(ts: &str, status: Option<u16>, task: &Value) -> Value {
    let mut e = ev(ts, "notify", status);
    e["task"] = task.clone();
    e
}

pub fn cancel(ts: &str, status: Option<u16>, id: &str) -> Value {
    let mut t = example(TANP_CANCEL);
    t["identifier"] = json!([{"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")}]);
    let mut e = ev(ts, "cancel", status);
    e["task"] = t;
    e
}

pub fn pull(ts: &str, interaction: &str, status: Option<u16>, id: &str, request: &str) -> Value {
    let mut e = ev(ts, interaction, status);
    e["notification"] = json!(key(id));
    e["request"] = json!(request);
    e
}

/// A story: the two logs. Build it, then `run()` it.
#[derive(Default, Clone)]
pub struct Story {
    pub sent: Vec<Value>,
    pub received: Vec<Value>,
}

impl Story {
    pub fn new() -> Self {
        Story::default()
    }
    pub fn sent(mut self, e: Value) -> Self {
        self.sent.push(e);
        self
    }
    pub fn received(mut self, e: Value) -> Self {
        self.received.push(e);
        self
    }
    /// A notification sent and received (2xx both sides) and every request pulled with 200.
    pub fn healthy(self, id: &str, task: &Value) -> Self {
        self.sent(notify("2026-11-19T09:00:00Z", Some(201), task))
            .received(notify("2026-11-19T09:00:01Z", Some(201), task))
            .received(pull("2026-11-19T09:01:00Z", "read", Some(200), id, READ))
            .received(pull(
                "2026-11-19T09:01:01Z",
                "search",
                Some(200),
                id,
                SEARCH,
            ))
    }

    /// Writes the logs as NDJSON into `dir/sent.ndjson` and `dir/received.ndjson`.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let s = dir.join("sent.ndjson");
        let r = dir.join("received.ndjson");
        let lines = |v: &[Value]| v.iter().map(|e| e.to_string() + "\n").collect::<String>();
        std::fs::write(&s, lines(&self.sent)).unwrap();
        std::fs::write(&r, lines(&self.received)).unwrap();
        (s, r)
    }

    /// Runs reconcile on the story (as of `AS_OF`, default grace, lookback and SLA).
    pub fn run(&self) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let (s, r) = self.write(dir.path());
        reconcile(&options(&s, &r, &dir.path().join("out"))).unwrap()
    }
}

pub fn options(sent: &Path, received: &Path, out: &Path) -> Options {
    Options {
        sent: vec![sent.display().to_string()],
        received: vec![received.display().to_string()],
        out: out.to_path_buf(),
        as_of: pullrecon::time::parse_rfc3339(AS_OF).unwrap(),
        grace_seconds: 15 * 60,
        lookback_seconds: 30 * 86_400,
        push_sla_seconds: 24 * 3600,
        time_zone: chrono_tz::Europe::Amsterdam,
        senders: Default::default(),
        pseudonymiser: Pseudonymiser::new(Some(b"test-key".to_vec())),
        command: "test".into(),
        run_id: None,
        replayed: Vec::new(),
        window_from: None,
        shard: None,
    }
}

/// The findings of one category as (notification, request) pairs, sorted.
pub fn of(outcome: &Outcome, category: &str) -> Vec<(Option<String>, Option<String>)> {
    let mut v: Vec<_> = outcome
        .findings
        .iter()
        .filter(|f| f.category == category)
        .map(|f| (f.notification.clone(), f.request.clone()))
        .collect();
    v.sort();
    v
}

pub fn find<'a>(outcome: &'a Outcome, category: &str) -> Vec<&'a Finding> {
    outcome
        .findings
        .iter()
        .filter(|f| f.category == category)
        .collect()
}

/// The pullrecon binary built for these tests.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pullrecon"))
}

/// `pullrecon reconcile` of two log folders at `AS_OF` with extra arguments, which must end with
/// status 3 (the logs hold error findings).
pub fn reconcile_logs(
    sent: &Path,
    received: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let o = bin()
        .args(["reconcile", "--sent"])
        .arg(sent)
        .arg("--received")
        .arg(received)
        .arg("--out")
        .arg(out)
        .args(["--as-of", AS_OF])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Every file under a folder (hidden ones too), sorted; none when the folder does not exist.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every `.parquet` file under a folder.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = all_files(dir);
    out.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    out
}

/// Reads one Parquet file with the `parquet` crate into Arrow record batches.
pub fn read_batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}
