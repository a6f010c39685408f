//! `pullrecon run`: the sample job gives the sample's expected findings under one run id in every
//! table; a failing replay step (today: the stub) is recorded in `job_runs`, the report and the
//! metrics while the run still finishes; re-running a date replaces its tables and says so; two
//! runs at once on one folder: one runs, one refuses (75) and changes nothing; `--log-format json`
//! gives JSON lines; the replayed log folder is read by `run` and not by `reconcile`; a run that
//! cannot be done exits 1 with one line and is recorded as failed.

use crate::common::*;
use crate::jobs::{pullrecon, sample_job_text, stderr, stdout, write_job};
use crate::tables::{column_bool, column_i64, column_strings};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every row of a table (all partitions) as batches.
pub fn table_batches(out: &Path, table: &str) -> Vec<arrow_array::RecordBatch> {
    let dir = out.join(table);
    if !dir.exists() {
        return Vec::new();
    }
    parquet_files(&dir)
        .iter()
        .flat_map(|f| read_batches(f))
        .collect()
}

pub fn strings(out: &Path, table: &str, col: &str) -> Vec<Option<String>> {
    table_batches(out, table)
        .iter()
        .flat_map(|b| column_strings(b, col))
        .collect()
}

pub fn ints(out: &Path, table: &str, col: &str) -> Vec<Option<i64>> {
    table_batches(out, table)
        .iter()
        .flat_map(|b| column_i64(b, col))
        .collect()
}

type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

/// The findings table's rows, in the terms of `expected-findings.json`.
pub fn finding_rows(out: &Path) -> BTreeSet<Row> {
    let mut set = BTreeSet::new();
    for b in table_batches(out, "findings") {
        let c = |n| column_strings(&b, n);
        let (cat, sev, notif, msg, req) = (
            c("category"),
            c("severity"),
            c("notification"),
            c("message"),
            c("request"),
        );
        let rp = column_bool(&b, "replayable");
        for i in 0..b.num_rows() {
            set.insert((
                cat[i].clone().unwrap(),
                sev[i].clone().unwrap(),
                notif[i].clone(),
                msg[i].clone(),
                req[i].clone(),
                rp[i].unwrap(),
            ));
        }
    }
    set
}

pub fn expected_rows() -> BTreeSet<Row> {
    let text = std::fs::read_to_string(repo().join("sample-data/expected-findings.json")).unwrap();
    let v: Vec<Value> = serde_json::from_str(&text).unwrap();
    let s = |x: &Value| x.as_str().map(str::to_owned);
    v.iter()
        .map(|e| {
            (
                s(&e["category"]).unwrap(),
                s(&e["severity"]).unwrap(),
                s(&e["notification"]),
                s(&e["message"]),
                s(&e["request"]),
                e["replayable"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The BSN values that occur in the sample data (they must appear in no output of ours).
pub fn sample_bsns() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for side in ["sent", "received"] {
        for f in std::fs::read_dir(repo().join("sample-data").join(side))
            .unwrap()
            .flatten()
        {
            let text = if f.path().to_string_lossy().ends_with(".gz") {
                let o = std::process::Command::new("gzip")
                    .arg("-dc")
                    .arg(f.path())
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).into_owned()
            } else {
                String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned()
            };
            for pat in ["NamingSystem/bsn", "\"assertion_bsn\""] {
                for (i, _) in text.match_indices(pat) {
                    let tail: String = text[i + pat.len()..].chars().take(40).collect();
                    if let Some(d) = tail
                        .split(|c: char| !c.is_ascii_digit())
                        .find(|d| d.len() >= 8)
                    {
                        out.insert(d.to_owned());
                    }
                }
            }
        }
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

/// A temporary folder with the sample job in it; `out` is its output folder.
pub struct SampleJob {
    pub dir: tempfile::TempDir,
    pub job: PathBuf,
    pub out: PathBuf,
}

pub fn sample_job(extra: &str) -> SampleJob {
    sample_job_edit(extra, |t| t)
}

/// The sample job with its text changed by `edit` (after `extra` is appended).
pub fn sample_job_edit(extra: &str, edit: impl Fn(String) -> String) -> SampleJob {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = write_job(
        dir.path(),
        "sample.toml",
        &edit(sample_job_text(&out, extra)),
    );
    SampleJob { dir, job, out }
}

/// Turns the replay step off.
pub fn no_replay(text: String) -> String {
    assert!(text.contains("[replay]\nenabled = true"));
    text.replace("[replay]\nenabled = true", "[replay]\nenabled = false")
}

impl SampleJob {
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut a = vec!["run", "--job", self.job.to_str().unwrap()];
        a.extend_from_slice(args);
        pullrecon(&a)
    }
}

/// Reads `job_runs` rows: (run_id, status, replay_status, replay_error, exit_code).
fn job_runs(out: &Path) -> Vec<(String, String, String, Option<String>, i64)> {
    let mut v = Vec::new();
    for b in table_batches(out, "job_runs") {
        let s = |n| column_strings(&b, n);
        let (id, st, rs, re) = (
            s("run_id"),
            s("status"),
            s("replay_status"),
            s("replay_error"),
        );
        let ex = column_i64(&b, "exit_code");
        for i in 0..b.num_rows() {
            v.push((
                id[i].clone().unwrap(),
                st[i].clone().unwrap(),
                rs[i].clone().unwrap(),
                re[i].clone(),
                ex[i].unwrap(),
            ));
        }
    }
    v
}

/// The second night over the same folder: the replay has only the parked item left, logs
/// nothing, and the second reconcile (a full reading at scale) is skipped.
#[test]
fn a_replay_that_logs_nothing_skips_the_second_reconcile() {
    let s = sample_job("");
    let first = stdout(&s.run(&[]));
    assert!(
        first.contains("[3/5] reconcile-again  ok       30 findings"),
        "{first}"
    );
    let o = s.run(&[]);
    let second = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{second}");
    for want in [
        "[1/5] reconcile        ok       30 findings",
        "[2/5] replay           ok       1 planned, 0 succeeded, 0 failed, 1 parked",
        "[3/5] reconcile-again  skipped  replay added no events",
    ] {
        assert!(second.contains(want), "{want}\n{second}");
    }
}

#[test]
fn the_sample_job_runs_every_step_under_one_run_id() {
    let s = sample_job("");
    let o = s.run(&[]);
    let (out_text, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(3), "{out_text}\n{err}");
    // The first reconcile finds the sample's 37; the tables hold them unless the replay added
    // events and the second reconcile ran.
    assert!(
        out_text.lines().any(|l| l.starts_with("[1/5] reconcile ")
            && l.contains(" ok ")
            && l.contains("37 findings (27 error, 8 warning, 2 info")),
        "{out_text}"
    );
    if out_text
        .lines()
        .any(|l| l.starts_with("[3/5] reconcile-again  skipped"))
    {
        assert_eq!(finding_rows(&s.out), expected_rows());
    }

    let ids: BTreeSet<String> = pullrecon::tables::TABLES
        .iter()
        .flat_map(|t| strings(&s.out, t, "run_id"))
        .map(|x| x.unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let run_id = ids.into_iter().next().unwrap();
    assert!(out_text.contains(&run_id));
    for step in [
        "reconcile",
        "replay",
        "reconcile-again",
        "report",
        "metrics",
    ] {
        assert!(out_text.contains(step), "{step}: {out_text}");
    }

    let jr = job_runs(&s.out);
    assert_eq!(jr.len(), 1);
    let (id, status, replay_status, replay_error, exit) = &jr[0];
    assert_eq!(id, &run_id);
    assert_eq!(*exit, 3);
    let html = std::fs::read_to_string(s.out.join("report.html")).unwrap();
    let prom = std::fs::read_to_string(s.out.join("pullrecon.prom")).unwrap();
    let replay_metric = "pullrecon_step_success{pullrecon_job=\"sample\",step=\"replay\"}";
    assert_eq!(replay_status, "ok", "{replay_error:?}");
    assert_eq!(status, "ok");
    assert!(prom.contains(&format!("{replay_metric} 1\n")), "{prom}");
    // The embedded sender is a snapshot of the sample's night, so the replay acts at its as-of
    // (by the real clock every Task of the sample has expired since 2026-11-26): it pulls what
    // the night still allowed, and the second reconcile counts those repairs.
    for want in [
        "[2/5] replay           ok       19 planned, 16 succeeded, 0 failed, 1 parked, 2 refused, 0 deferred",
        "[3/5] reconcile-again  ok       30 findings (20 error, 8 warning, 2 info; 1 replayable)",
    ] {
        assert!(out_text.contains(want), "{want}\n{out_text}");
    }
    assert!(html.contains(&run_id));
    for bsn in sample_bsns() {
        assert!(
            !out_text.contains(&bsn) && !err.contains(&bsn),
            "BSN in output"
        );
        assert!(!html.contains(&bsn), "BSN in the report");
    }
}

#[test]
fn rerunning_a_date_replaces_its_tables_and_says_so() {
    let s = sample_job_edit("[thresholds.default]\nseverity = \"warn\"", no_replay);
    let first = s.run(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let first_id = strings(&s.out, "runs", "run_id")[0].clone().unwrap();
    let second = s.run(&[]);
    assert_eq!(second.status.code(), Some(0));
    let text = stdout(&second);
    assert!(
        text.contains(&format!("date 2026-11-20 already holds run {first_id}")),
        "{text}"
    );
    assert!(text.contains("this run replaces its tables"), "{text}");
    // The contract's tables: one file per date, all of the second run.
    for t in pullrecon::tables::TABLES {
        let ids: BTreeSet<_> = strings(&s.out, t, "run_id").into_iter().collect();
        assert!(
            ids.len() <= 1 && !ids.contains(&Some(first_id.clone())),
            "{t}"
        );
    }
    assert_eq!(finding_rows(&s.out), expected_rows());
    // job_runs keeps both executions, the second naming the run it replaced.
    let replaced = strings(&s.out, "job_runs", "replaced_run_id");
    assert_eq!(replaced.len(), 2);
    assert!(replaced.contains(&Some(first_id)));
}

/// Snapshot of a folder: relative path → (size, modification time).
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            v.push((
                p.strip_prefix(dir).unwrap().to_path_buf(),
                if m.is_dir() { 0 } else { m.len() },
                m.modified().unwrap(),
            ));
        }
    }
    v.sort();
    v
}

fn signal(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits until a file holds `needle` (or the child exits); true when it does.
pub fn wait_for(path: &Path, needle: &str, child: &mut std::process::Child) -> bool {
    for _ in 0..20_000 {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(250));
    }
    false
}

#[test]
fn two_runs_at_once_one_runs_one_refuses_and_the_tables_stay_intact() {
    let s = sample_job_edit("", no_replay);
    // Tables of an earlier run are in place.
    assert_eq!(s.run(&["--quiet"]).status.code(), Some(3));
    let lock = s.out.join(".pullrecon.lock");
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "run A never held the lock long enough to be paused"
        );
        let mut a = bin()
            .args(["run", "--job", s.job.to_str().unwrap(), "--quiet"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = a.id();
        // A holds the lock once its pid is in the lock file; pause it right there.
        if !wait_for(&lock, &format!("pid {pid},"), &mut a) {
            a.wait().unwrap();
            continue;
        }
        signal(pid, "-STOP");
        let still_held = std::fs::read_to_string(&lock)
            .unwrap()
            .contains(&format!("pid {pid},"));
        if !still_held {
            // A finished between the two looks: try again.
            signal(pid, "-CONT");
            a.wait().unwrap();
            continue;
        }
        // B starts while A runs: it refuses, with its own exit status, and changes nothing.
        let before = snapshot(&s.out);
        let b = s.run(&[]);
        let after = snapshot(&s.out);
        signal(pid, "-CONT");
        let a_status = a.wait().unwrap();
        assert_eq!(b.status.code(), Some(75), "{}", stderr(&b));
        let err = stderr(&b);
        assert!(
            err.contains("is locked by another pullrecon process"),
            "{err}"
        );
        assert!(err.contains(&format!("pid {pid}")), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(stdout(&b).is_empty());
        assert_eq!(before, after, "the refused run changed the folder");
        assert_eq!(a_status.code(), Some(3));
        break;
    }
    // The tables are whole and all of the run that ran; no temporary file is left.
    let ids: BTreeSet<_> = pullrecon::tables::TABLES
        .iter()
        .flat_map(|t| strings(&s.out, t, "run_id"))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(finding_rows(&s.out), expected_rows());
    assert!(
        snapshot(&s.out)
            .iter()
            .all(|(p, _, _)| !p.to_string_lossy().ends_with(".tmp"))
    );
    assert_eq!(
        job_runs(&s.out).len(),
        2,
        "two runs ran, the refused one is not recorded"
    );
}

#[test]
fn json_log_format_gives_json_lines() {
    let s = sample_job_edit("", no_replay);
    let o = pullrecon(&[
        "--log-format",
        "json",
        "run",
        "--job",
        s.job.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"run-start"));
    assert_eq!(events.last(), Some(&"run-end"));
    assert_eq!(events.iter().filter(|e| **e == "step").count(), 5);
    let end = lines.last().unwrap();
    assert_eq!(end["exit_code"], 3);
    assert_eq!(end["findings"]["error"], 27);
    assert!(end["threshold_errors"].as_array().unwrap().len() > 1);
    // stderr (tracing) is JSON too.
    for l in stderr(&o).lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("stderr {l}: {e}"));
    }
}

/// A `read` pull of F13's read request that succeeded, as replay would have logged it.
const REPLAYED_PULL: &str = r#"{"ts":"2026-11-19T20:00:00Z","interaction":"read","status":200,"notification":"urn:ietf:rfc:3986|urn:uuid:1c58883e-066c-5d86-867f-7f68ca0593f7","request":"DocumentReference/amstelrade-brief-88213"}"#;

#[test]
fn run_reads_the_replayed_log_folder_and_reconcile_does_not() {
    let s = sample_job_edit("", no_replay);
    let replayed = pullrecon::replay::replayed_log_dir(&s.out);
    std::fs::create_dir_all(&replayed).unwrap();
    std::fs::write(
        replayed.join("replayed.ndjson"),
        format!("{REPLAYED_PULL}\n"),
    )
    .unwrap();
    let pull_failed = |out: &Path| {
        strings(out, "findings", "category")
            .iter()
            .filter(|c| c.as_deref() == Some("pull-failed"))
            .count()
    };
    let o = s.run(&["--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        pull_failed(&s.out),
        3,
        "the replayed 200 resolves one pull-failed"
    );
    let inputs = strings(&s.out, "input_files", "path");
    assert!(
        inputs
            .iter()
            .any(|p| p.as_deref().unwrap().contains("/replayed/"))
    );

    let plain = s.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::create_dir_all(pullrecon::replay::replayed_log_dir(&plain)).unwrap();
    std::fs::write(
        pullrecon::replay::replayed_log_dir(&plain).join("replayed.ndjson"),
        format!("{REPLAYED_PULL}\n"),
    )
    .unwrap();
    let data = repo().join("sample-data");
    let o = pullrecon(&[
        "reconcile",
        "--sent",
        data.join("sent").to_str().unwrap(),
        "--received",
        data.join("received").to_str().unwrap(),
        "--out",
        plain.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        pull_failed(&plain),
        4,
        "plain reconcile ignores the replayed folder"
    );
}

#[test]
fn a_run_that_cannot_be_done_exits_1_and_is_recorded() {
    let s = sample_job("");
    let text = std::fs::read_to_string(&s.job)
        .unwrap()
        .replace("sample-data/received/*", "sample-data/no-such-folder/*");
    std::fs::write(&s.job, text).unwrap();
    let o = s.run(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("pullrecon: ") && err.contains("no-such-folder"),
        "{err}"
    );
    let jr = job_runs(&s.out);
    assert_eq!(jr.len(), 1);
    assert_eq!(jr[0].1, "failed");
    assert_eq!(jr[0].4, 1);
    let prom = std::fs::read_to_string(s.out.join("pullrecon.prom")).unwrap();
    assert!(prom.contains("pullrecon_last_run_exit_code{pullrecon_job=\"sample\"} 1\n"));
    assert!(prom.contains("pullrecon_last_run_success{pullrecon_job=\"sample\"} 0\n"));
    assert!(
        !s.out.join("runs").exists(),
        "no table of a run that was not done"
    );
    assert!(ints(&s.out, "job_runs", "exit_code").contains(&Some(1)));
}

/// The second reconcile of a run fails: while the replay pulls, its sender turns the
/// `input_files` partition folder into a file, so the second reconcile cannot write its tables.
/// The run goes on, and what it judges, prints and measures is the first reconcile's analysis
/// (the lost notification, an error), which the date's tables, left as the first
/// reconcile wrote them, say too. Had the second reconcile's result been used, the finding
/// would be gone (the replay delivered the notification) and the run would exit 0.
#[test]
fn a_failed_second_reconcile_leaves_the_first_ones_verdict_and_tables() {
    use crate::replay::{Reply, Seen, TestSender};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let blocked = out.join("input_files").join("date=2026-11-20");
    let to_block = blocked.clone();
    let sender = rt.block_on(TestSender::start(std::sync::Arc::new(
        move |seen: &Seen, _| {
            if to_block.is_dir() {
                let _ = std::fs::remove_dir_all(&to_block);
                let _ = std::fs::write(&to_block, b"not a folder");
            }
            Reply::fhir(&seen.request)
        },
    )));
    let id = "00000000-0000-4000-8000-00000000fa11";
    let mut t = task(id, &format!("{id}-group"));
    t["restriction"]["period"]["end"] = serde_json::json!("2099-01-01T00:00:00Z");
    Story::new()
        .sent(notify("2026-11-19T09:00:00Z", Some(201), &t))
        .write(dir.path());
    let job_for = |out: &Path, file: &str| {
        let text = crate::jobs::story_job_text("second-fails", dir.path(), out, &sender.base, "");
        write_job(dir.path(), file, &text)
    };

    // The control: the same night, nothing blocked, ends with the second reconcile's analysis,
    // in which the replay has delivered the notification.
    let control = dir.path().join("control");
    let o = pullrecon(&[
        "run",
        "--job",
        job_for(&control, "control.toml").to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}\n{}", stderr(&o));
    assert!(
        !strings(&control, "findings", "category").contains(&Some("notification-lost".to_owned())),
        "{text}"
    );

    let job = job_for(&out, "job.toml");
    let o = pullrecon(&["run", "--job", job.to_str().unwrap()]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{text}\n{}", stderr(&o));
    assert!(!sender.requests().is_empty(), "the replay pulled");
    let line = |step: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(step))
            .unwrap_or_else(|| panic!("no {step} line: {text}"))
            .to_owned()
    };
    assert!(line("replay").contains(" ok "), "{text}");
    let again = line("reconcile-again");
    assert!(
        again.contains("FAILED") && again.contains("cannot write the tables"),
        "{again}"
    );
    assert!(text.contains("notification-lost"), "{text}");
    let prom = std::fs::read_to_string(out.join("pullrecon.prom")).unwrap();
    assert!(
        prom.contains(
            "pullrecon_findings{pullrecon_job=\"second-fails\",category=\"notification-lost\",severity=\"error\"} 1\n"
        ),
        "{prom}"
    );
    // The tables: the first reconcile's, under the run's id, with the finding.
    let categories = strings(&out, "findings", "category");
    assert!(
        categories.contains(&Some("notification-lost".to_owned())),
        "{categories:?}"
    );
    assert!(blocked.is_file());
    let ids: BTreeSet<_> = ["findings", "notifications", "runs"]
        .iter()
        .flat_map(|t| strings(&out, t, "run_id"))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}
