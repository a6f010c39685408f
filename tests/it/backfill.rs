//! `pullrecon backfill`: the days of the DST changes cover exactly their local day (23 and 25
//! hours); the plan alone changes nothing; a backfill over 3 days killed during day 2 and resumed
//! does each day exactly once; the reprocess modes pick the right days.

use crate::common::*;
use crate::jobs::{pullrecon, stderr, stdout, write_job};
use crate::run::{ints, strings, wait_for};
use pullrecon::backfill::{Action, DayStatus, Reprocess, State, plan};
use pullrecon::job::Job;
use serde_json::json;
use std::path::{Path, PathBuf};

/// A job reading `logs/{sent,received}/<day D>/*.ndjson` for day D (`{date-1}`: the run's as-of
/// is midnight of D+1), replay off, every category only warning.
fn job(dir: &Path) -> (PathBuf, PathBuf) {
    let logs = dir.join("logs");
    let out = dir.join("out");
    let text = format!(
        r#"name = "bf"
time_zone = "Europe/Amsterdam"
[inputs]
sent = ["{logs}/sent/{{date-1}}/*.ndjson"]
received = ["{logs}/received/{{date-1}}/*.ndjson"]
[output]
dir = "{out}"
[replay]
enabled = false
[thresholds.default]
severity = "warn"
"#,
        logs = logs.display(),
        out = out.display()
    );
    (write_job(dir, "bf.toml", &text), out)
}

fn push(ts: &str, status: Option<u16>, message: &str, interaction: &str) -> String {
    let mut e = json!({"ts": ts, "interaction": interaction, "status": status, "message": message,
        "sender": ORG_A, "receiver": RECEIVER});
    if interaction == "push-processed" {
        e["outcome"] = json!("accepted");
        e.as_object_mut().unwrap().remove("status");
    }
    e.to_string() + "\n"
}

/// Writes a day's logs: `sent` pushes at the given instants, received and processed right after.
fn day_logs(dir: &Path, day: &str, sent_at: &[&str], extra: usize) {
    let s = dir.join("logs/sent").join(day);
    let r = dir.join("logs/received").join(day);
    std::fs::create_dir_all(&s).unwrap();
    std::fs::create_dir_all(&r).unwrap();
    let mut sent = String::new();
    let mut received = String::new();
    for (i, ts) in sent_at.iter().enumerate() {
        sent += &push(ts, Some(201), &format!("urn:uuid:{day}-{i}"), "push");
    }
    let base = pullrecon::time::parse_rfc3339(&format!("{day}T11:00:00Z")).unwrap();
    for i in 0..extra {
        let t = pullrecon::time::format_ts(base + i as i64 * 1000);
        let m = format!("urn:uuid:{day}-x{i}");
        sent += &push(&t, Some(201), &m, "push");
        received += &push(&t, Some(201), &m, "push");
        received += &push(&t, None, &m, "push-processed");
    }
    std::fs::write(s.join("push.ndjson"), sent).unwrap();
    std::fs::write(r.join("push.ndjson"), received).unwrap();
}

#[test]
fn the_dst_days_cover_exactly_their_local_day() {
    let dir = tempfile::tempdir().unwrap();
    let (job_file, out) = job(dir.path());
    // Each day: one event just before its local midnight, three inside, one just after its end.
    day_logs(
        dir.path(),
        "2026-03-29",
        &[
            "2026-03-28T23:59:59+01:00",
            "2026-03-29T00:00:00+01:00",
            "2026-03-29T01:59:59+01:00",
            "2026-03-29T23:59:59+02:00",
            "2026-03-30T00:00:01+02:00",
        ],
        0,
    );
    day_logs(
        dir.path(),
        "2026-10-25",
        &[
            "2026-10-24T23:59:59+02:00",
            "2026-10-25T00:00:00+02:00",
            "2026-10-25T02:30:00+01:00",
            "2026-10-25T23:59:59+01:00",
            "2026-10-26T00:00:01+01:00",
        ],
        0,
    );
    let j = Job::load(&job_file).unwrap();
    let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let p = plan(
        &j,
        d("2026-03-28"),
        d("2026-03-30"),
        Reprocess::Missing,
        &State::default(),
    )
    .unwrap();
    let hours: Vec<i64> = p.iter().map(|x| x.window.seconds() / 3600).collect();
    assert_eq!(hours, [24, 23, 24]);
    let p = plan(
        &j,
        d("2026-10-25"),
        d("2026-10-25"),
        Reprocess::Missing,
        &State::default(),
    )
    .unwrap();
    assert_eq!(p[0].window.seconds(), 25 * 3600);
    assert_eq!(p[0].partition, "2026-10-26");

    for (day, hours, partition) in [
        ("2026-03-29", 23, "2026-03-30"),
        ("2026-10-25", 25, "2026-10-26"),
    ] {
        let plan_out = pullrecon(&[
            "backfill",
            "--job",
            job_file.to_str().unwrap(),
            "--from",
            day,
            "--to",
            day,
        ]);
        let text = stdout(&plan_out);
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(day)
                && l.contains(&format!(" {hours}  date={partition}"))),
            "{text}"
        );
        let o = pullrecon(&[
            "backfill",
            "--job",
            job_file.to_str().unwrap(),
            "--from",
            day,
            "--to",
            day,
            "--execute",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
        let runs = out.join("runs").join(format!("date={partition}"));
        let batches: Vec<_> = parquet_files(&runs)
            .iter()
            .flat_map(|f| read_batches(f))
            .collect();
        let col = |n| crate::tables::column_i64(&batches[0], n)[0].unwrap();
        let as_of = {
            use arrow_array::cast::AsArray;
            let c = batches[0].column_by_name("as_of").unwrap();
            c.as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .value(0)
        };
        let from = {
            use arrow_array::cast::AsArray;
            let c = batches[0].column_by_name("window_from").unwrap();
            c.as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .value(0)
        };
        assert_eq!(as_of - from, hours * 3600 * 1_000_000, "{day}");
        let midnight = |date: &str| {
            pullrecon::days::local_midnight(d(date), chrono_tz::Europe::Amsterdam).unwrap()
        };
        assert_eq!(from, midnight(day));
        assert_eq!(as_of, midnight(partition));
        assert_eq!(col("events_used"), 3, "{day}: the three events of the day");
        assert_eq!(col("events_before_lookback"), 1, "{day}");
        assert_eq!(col("events_after_as_of"), 1, "{day}");
    }
}

#[test]
fn the_plan_alone_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (job_file, out) = job(dir.path());
    let o = pullrecon(&[
        "backfill",
        "--job",
        job_file.to_str().unwrap(),
        "--from",
        "2026-11-17",
        "--to",
        "2026-11-19",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_end().ends_with(" run"))
            .count(),
        3,
        "{text}"
    );
    assert!(text.contains("add --execute"), "{text}");
    assert!(!out.exists());
    let o = pullrecon(&[
        "backfill",
        "--job",
        job_file.to_str().unwrap(),
        "--from",
        "2026-11-19",
        "--to",
        "2026-11-17",
    ]);
    assert_eq!(o.status.code(), Some(2), "from after to is a usage error");
}

fn state(out: &Path) -> State {
    State::load(out).unwrap()
}

fn done_attempts(s: &State, day: &str) -> Vec<String> {
    s.days[day]
        .attempts
        .iter()
        .filter(|a| a.status == DayStatus::Done)
        .map(|a| a.run_id.clone())
        .collect()
}

#[test]
fn a_backfill_killed_during_day_2_resumes_and_does_each_day_exactly_once() {
    let days = ["2026-11-17", "2026-11-18", "2026-11-19"];
    let mut tries = 0;
    let (dir, job_file, out) = loop {
        tries += 1;
        assert!(tries <= 10, "day 2 never ran long enough to be interrupted");
        let dir = tempfile::tempdir().unwrap();
        let (job_file, out) = job(dir.path());
        for (i, day) in days.iter().enumerate() {
            // Day 2 has more work, so it is still running when it is paused.
            let extra = if i == 1 { 20_000 } else { 20 };
            day_logs(dir.path(), day, &[&format!("{day}T09:00:00Z")], extra);
        }
        let mut child = bin()
            .args([
                "backfill",
                "--job",
                job_file.to_str().unwrap(),
                "--from",
                days[0],
                "--to",
                days[2],
                "--execute",
                "--quiet",
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let state_file = pullrecon::backfill::state_path(&out);
        // Wait until day 2 is in flight, pause the process, check it is, kill it.
        let reached = wait_for(&state_file, "\"2026-11-18\"", &mut child);
        if !reached {
            child.wait().unwrap();
            continue;
        }
        std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap();
        let s = state(&out);
        let in_flight = s
            .days
            .get("2026-11-18")
            .is_some_and(|d| d.status == DayStatus::Running);
        child.kill().unwrap();
        child.wait().unwrap();
        if in_flight {
            break (dir, job_file, out);
        }
    };
    let before = state(&out);
    assert_eq!(before.days["2026-11-17"].status, DayStatus::Done);
    assert_eq!(before.days["2026-11-18"].status, DayStatus::Running);
    assert!(!before.days.contains_key("2026-11-19"));
    let day1_run = done_attempts(&before, "2026-11-17");
    assert_eq!(day1_run.len(), 1);

    // Resume: the plan says so; the killed process's lock went with it.
    let o = pullrecon(&[
        "backfill",
        "--job",
        job_file.to_str().unwrap(),
        "--from",
        days[0],
        "--to",
        days[2],
        "--execute",
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}\n{}", stderr(&o));
    let actions: Vec<&str> = text
        .lines()
        .filter(|l| days.iter().any(|d| l.trim_start().starts_with(d)))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(actions, ["skip", "resume", "run"], "{text}");

    let after = state(&out);
    for day in days {
        assert_eq!(after.days[day].status, DayStatus::Done, "{day}");
        assert_eq!(
            done_attempts(&after, day).len(),
            1,
            "{day} done exactly once"
        );
    }
    assert_eq!(
        done_attempts(&after, "2026-11-17"),
        day1_run,
        "day 1 not run again"
    );
    let day2 = &after.days["2026-11-18"].attempts;
    assert_eq!(day2.len(), 2);
    assert!(
        day2[0].finished_at.is_none(),
        "the killed attempt stays on record"
    );

    // Each day's partition (date of its as-of) holds the tables of its one finished run only.
    for (day, partition) in days.iter().zip(["2026-11-18", "2026-11-19", "2026-11-20"]) {
        let want = done_attempts(&after, day);
        for table in pullrecon::tables::TABLES {
            let p = out.join(table).join(format!("date={partition}"));
            let ids: std::collections::BTreeSet<_> = parquet_files(&p)
                .iter()
                .flat_map(|f| read_batches(f))
                .flat_map(|b| crate::tables::column_strings(&b, "run_id"))
                .map(|x| x.unwrap())
                .collect();
            assert!(
                ids.is_empty() || ids.iter().eq(want.iter()),
                "{table} {partition}: {ids:?}"
            );
        }
    }
    assert_eq!(strings(&out, "runs", "run_id").len(), 3);
    assert!(
        ints(&out, "runs", "events_used")
            .iter()
            .all(|n| n.unwrap() > 0)
    );

    // Once more: nothing left to do.
    let o = pullrecon(&[
        "backfill",
        "--job",
        job_file.to_str().unwrap(),
        "--from",
        days[0],
        "--to",
        days[2],
        "--execute",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(state(&out), after);
    drop(dir);
}

#[test]
fn reprocess_modes_pick_the_days() {
    let dir = tempfile::tempdir().unwrap();
    let (job_file, _) = job(dir.path());
    let j = Job::load(&job_file).unwrap();
    let mut s = State::default();
    for (day, status) in [
        ("2026-11-01", DayStatus::Done),
        ("2026-11-02", DayStatus::Failed),
        ("2026-11-03", DayStatus::Running),
    ] {
        s.days.insert(
            day.into(),
            pullrecon::backfill::DayState {
                job: "bf".into(),
                status,
                attempts: vec![],
            },
        );
    }
    let d = |x: &str| x.parse::<chrono::NaiveDate>().unwrap();
    let actions = |mode| -> Vec<Action> {
        plan(&j, d("2026-11-01"), d("2026-11-04"), mode, &s)
            .unwrap()
            .iter()
            .map(|p| p.action)
            .collect()
    };
    use Action::*;
    assert_eq!(actions(Reprocess::Missing), [Skip, Skip, Resume, Run]);
    assert_eq!(actions(Reprocess::Failed), [Skip, Rerun, Resume, Run]);
    assert_eq!(actions(Reprocess::All), [Rerun, Rerun, Resume, Run]);
}
