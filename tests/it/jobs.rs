//! Job files: every file in `jobs/` loads; a bad job file (unknown key, bad value, unknown
//! category) stops the run with exit status 1 and names the file, the line and the key; the
//! thresholds turn the same findings into the exit status the job file asks for. Also the helpers
//! the other nightly tests use to write a job file for the sample data into a temporary folder.

use crate::common::*;
use pullrecon::job::Job;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `jobs/sample.toml` with the sample data's absolute paths and `out` as its output folder, plus
/// `extra` appended (more tables, such as `[thresholds.x]`).
pub fn sample_job_text(out: &Path, extra: &str) -> String {
    let text = std::fs::read_to_string(repo().join("jobs/sample.toml")).unwrap();
    let data = repo().join("sample-data");
    let text = text
        .replace("\"../sample-data", &format!("\"{}", data.display()))
        .replace("dir = \"../out\"", &format!("dir = \"{}\"", out.display()));
    assert!(text.contains(&out.display().to_string()));
    format!("{text}\n{extra}\n")
}

/// The text of a job over a story's logs (`dir/sent.ndjson`, `dir/received.ndjson`, as
/// `Story::write` leaves them) as of `AS_OF`, writing into `out`, whose one sender (`ORG_A`)
/// answers at `base`; `extra` is appended (a `[replay]` section, for instance).
pub fn story_job_text(name: &str, dir: &Path, out: &Path, base: &str, extra: &str) -> String {
    format!(
        r#"name = "{name}"
time_zone = "Europe/Amsterdam"
[reconcile]
as_of = "{AS_OF}"
[inputs]
sent = ["{dir}/sent.ndjson"]
received = ["{dir}/received.ndjson"]
[output]
dir = "{out}"
[[senders]]
organisation = "{ORG_A}"
base = "{base}"
token = "none"
{extra}
"#,
        dir = dir.display(),
        out = out.display(),
    )
}

/// Writes a job file into `dir` and returns its path.
pub fn write_job(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `pullrecon <args>` and returns its output.
pub fn pullrecon(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_job_file_loads() {
    let mut names = Vec::new();
    for e in std::fs::read_dir(repo().join("jobs")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let job = Job::load(&p).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
            names.push(job.name.clone());
        }
    }
    names.sort();
    assert_eq!(names, ["backfill", "bsn-audit", "nightly", "sample"]);
    let sample = Job::load(&repo().join("jobs/sample.toml")).unwrap();
    let data = repo().join("sample-data").canonicalize().unwrap();
    assert_eq!(sample.inputs.sent, [format!("{}/sent/*", data.display())]);
    assert_eq!(
        sample.output.dir,
        repo().canonicalize().unwrap().join("out")
    );
    assert_eq!(sample.embedded_sender, Some(data.join("sender")));
    assert_eq!(
        sample.reconcile.as_of,
        pullrecon::job::AsOfPolicy::Fixed(pullrecon::time::parse_rfc3339(AS_OF).unwrap())
    );
    let audit = Job::load(&repo().join("jobs/bsn-audit.toml")).unwrap();
    assert!(!audit.replay.enabled);
}

/// A job file with one line changed, run: exit status 1, the error, the file and its text.
fn bad(line_from: &str, line_to: &str) -> (i32, String, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_job_text(&dir.path().join("out"), "");
    assert!(text.contains(line_from), "{line_from}");
    let text = text.replacen(line_from, line_to, 1);
    let job = write_job(dir.path(), "bad.toml", &text);
    let o = pullrecon(&["run", "--job", job.to_str().unwrap()]);
    assert!(
        !dir.path().join("out").exists(),
        "a bad job file changes nothing"
    );
    (o.status.code().unwrap(), stderr(&o), job, text)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn an_unknown_key_names_the_file_the_line_and_the_key() {
    let (code, err, job, text) = bad("grace = \"15m\"", "grase = \"15m\"");
    assert_eq!(code, 1, "{err}");
    let line = line_of(&text, "grase");
    assert!(err.contains(&format!("{}:{line}:", job.display())), "{err}");
    assert!(err.contains("windows.grase"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_bad_value_names_the_file_the_line_and_the_key() {
    for (from, to, needle, key) in [
        (
            "grace = \"15m\"",
            "grace = \"15 minutes\"",
            "15 minutes",
            "windows.grace",
        ),
        (
            "as_of = \"2026-11-20T05:00:00Z\"",
            "as_of = \"2026-11-20 05:00\"",
            "2026-11-20 05:00",
            "reconcile.as_of",
        ),
        (
            "per_host = 4",
            "per_host = \"four\"",
            "four",
            "replay.per_host",
        ),
        (
            "per_host = 4",
            "per_host = 0",
            "per_host = 0",
            "replay.per_host",
        ),
        (
            "time_zone = \"Europe/Amsterdam\"",
            "time_zone = \"Europe/Amsterdm\"",
            "Amsterdm",
            "time_zone",
        ),
        (
            "base = \"https://fhir.delinde.example/fhir\"",
            "base = \"fhir.delinde.example\"",
            "\"fhir.delinde.example\"",
            "senders[1].base",
        ),
    ] {
        let (code, err, job, text) = bad(from, to);
        assert_eq!(code, 1, "{to}: {err}");
        let line = line_of(&text, needle);
        assert!(
            err.contains(&format!("{}:{line}:", job.display())),
            "{to}: {err}"
        );
        assert!(err.contains(key), "{to}: {err}");
    }
}

#[test]
fn an_unknown_threshold_category_or_condition_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (extra, needle, key) in [
        (
            "[thresholds.pull-faild]\nerror_if = \"> 0\"\n",
            "pull-faild",
            "thresholds.pull-faild",
        ),
        (
            "[thresholds.pull-failed]\nerror_if = \"lots\"\n",
            "lots",
            "thresholds.pull-failed.error_if",
        ),
        (
            "[thresholds.pull-failed]\nseverity = \"fatal\"\n",
            "fatal",
            "thresholds.pull-failed.severity",
        ),
    ] {
        let text = sample_job_text(&out, extra);
        let job = write_job(dir.path(), "t.toml", &text);
        let o = pullrecon(&["run", "--job", job.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        let line = line_of(&text, needle);
        assert!(err.contains(&format!("t.toml:{line}:")), "{err}");
        assert!(err.contains(key), "{err}");
        assert!(!out.exists());
    }
}

/// Runs the sample job (replay off) with the given thresholds; returns the exit status.
fn exit_with(thresholds: &str) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("{thresholds}\n");
    let text = sample_job_text(&dir.path().join("out"), &extra)
        .replace("[replay]\nenabled = true", "[replay]\nenabled = false");
    let job = write_job(dir.path(), "t.toml", &text);
    let o = pullrecon(&["run", "--job", job.to_str().unwrap(), "--quiet"]);
    o.status.code().unwrap()
}

#[test]
fn thresholds_set_the_exit_status() {
    // The sample: 27 error findings, among them 4 pull-failed; 2 pull-expired (warning).
    assert_eq!(exit_with(""), 3, "the contract's default");
    assert_eq!(exit_with("[thresholds.default]\nseverity = \"warn\""), 0);
    let only_pull_failed = |cond: &str| {
        exit_with(&format!(
            "[thresholds.default]\nseverity = \"warn\"\n[thresholds.pull-failed]\nseverity = \"error\"\nerror_if = \"{cond}\""
        ))
    };
    assert_eq!(only_pull_failed(">= 4"), 3);
    assert_eq!(only_pull_failed("> 4"), 0);
    // A warning category can be made to fail the run (2 pull-expired in the sample).
    let only_pull_expired = |cond: &str| {
        exit_with(&format!(
            "[thresholds.default]\nseverity = \"warn\"\n[thresholds.pull-expired]\nseverity = \"error\"\nerror_if = \"{cond}\""
        ))
    };
    assert_eq!(only_pull_expired("> 1"), 3);
    assert_eq!(only_pull_expired("> 2"), 0);
}

#[test]
fn thresholds_judge_counts_per_category() {
    let text = sample_job_text(
        Path::new("/tmp/x"),
        "[thresholds.pull-failed]\nwarn_if = \"> 0\"\nerror_if = \"> 10\"\n[thresholds.push-unprocessed]\nerror_if = \">= 2\"",
    );
    let job = Job::parse(&text, Path::new("/tmp/t.toml")).unwrap();
    let counts = [
        ("pull-failed", 4u64),
        ("push-unprocessed", 2),
        ("pull-expired", 1),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
    let v = job.judge(&counts);
    let names = |b: &[pullrecon::job::Breach]| b.iter().map(|b| b.category).collect::<Vec<_>>();
    assert_eq!(names(&v.errors), ["push-unprocessed"]);
    assert_eq!(names(&v.warnings), ["pull-failed", "pull-expired"]);
    assert_eq!(v.exit_code(), 3);
    assert_eq!(job.judge(&Default::default()).exit_code(), 0);
}
