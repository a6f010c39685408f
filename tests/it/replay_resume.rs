//! Kill and resume: the `pullrecon replay` binary is killed (SIGKILL) in the middle of a run
//! against a slow loopback sender, then run again. The second run recovers the first one's
//! `replay_attempts` file from its journal, repeats no request whose success was journaled, and
//! finishes the rest; each item ends with exactly one success. A second replay started while one
//! runs is refused by the lock.

use crate::common::*;
use crate::replay::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replay_resumes_without_repeating_a_success() {
    let s = TestSender::start(Arc::new(|seen: &Seen, _| {
        Reply::fhir(&seen.request).after(Duration::from_millis(150))
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let notices: Vec<Notice> = (0..30)
        .map(|n| Notice::new(n).inputs(vec![read_input(&format!("DocumentReference/doc-{n}"))]))
        .collect();
    let (out, _) = story(dir.path(), &notices, &[(ORG_A, &s.base)]);
    let cmd = || {
        let mut c = bin();
        c.args([
            "replay",
            "--concurrency",
            "2",
            "--per-host",
            "2",
            "--batch-size",
            "4",
            "--out",
        ])
        .arg(&out);
        c
    };
    let mut child = cmd()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.requests().len() < 9 {
        assert!(
            std::time::Instant::now() < deadline,
            "the replay did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While it runs, a second replay on the same folder is refused and changes nothing.
    let second = cmd().output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another replay is running"));
    child.kill().unwrap();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = s.requests().len();
    assert!(before < 30, "killed too late: {before} requests");
    let table = out.join("replay_attempts");
    assert!(
        !table.exists() || parquet_files(&table).is_empty(),
        "the killed run wrote no table"
    );

    let r = cmd().output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // The killed run's attempts were recovered into their own file.
    assert_eq!(parquet_files(&out.join("replay_attempts")).len(), 2);
    let rows = attempt_rows(&out);
    let runs: Vec<String> = {
        let mut v: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
        v.dedup();
        v
    };
    assert_eq!(runs.len(), 2, "{runs:?}");
    let succeeded: Vec<&AttemptRow> = rows.iter().filter(|r| r.decision == "succeeded").collect();
    let mut per_item: HashMap<&str, usize> = HashMap::new();
    for r in &succeeded {
        *per_item.entry(r.item.as_str()).or_default() += 1;
    }
    assert_eq!(per_item.len(), 30);
    assert!(
        per_item.values().all(|n| *n == 1),
        "a success was repeated: {per_item:?}"
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    let resumed = stdout.split_whitespace().nth(3).unwrap().to_owned();
    let killed = runs.iter().find(|r| **r != resumed).unwrap();
    assert!(runs.contains(&resumed), "{stdout}");
    let journaled: HashSet<&str> = succeeded
        .iter()
        .filter(|r| &r.run_id == killed)
        .map(|r| r.request.as_str())
        .collect();
    assert!(!journaled.is_empty());
    let after: Vec<String> = s.requests()[before..].to_vec();
    for r in &after {
        assert!(
            !journaled.contains(r.as_str()),
            "{r} succeeded before the kill and was pulled again"
        );
    }
    assert_eq!(after.len(), 30 - journaled.len());
    for r in &succeeded {
        assert!(r.notification.starts_with("urn:ietf:rfc:3986|urn:uuid:"));
        assert_eq!(r.kind, "read");
        assert!(r.patient.as_deref().is_none_or(|p| p.len() == 64));
        assert!(!r.guard);
    }
}
