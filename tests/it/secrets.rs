//! No secret anywhere: the whole sample job (reconcile, replay with a bearer token, reconcile
//! again, report, metrics) at trace-level logging, in both log formats, then `report` and a dry-run
//! `replay`; every output file (Parquet decoded column by column, and raw), the report, the
//! metrics, the replayed log, the landing zone and every log line are scanned for the sample's
//! BSNs, its authorization-base values, the token and the pseudonymisation key: zero hits. And
//! nothing pullrecon creates is readable by others.

use crate::cmd_reconcile::secrets_in_sample;
use crate::common::*;
use crate::tables::column_strings;
use std::path::{Path, PathBuf};

const TOKEN: &str = "tok-3b1f9c0e8a7d4e21b5c6";
const KEY: &str = "bsn-key-5d8e2f1a9c";

/// The sample job, rewritten into `dir` with absolute paths, a static token for every sender and
/// a pseudonymisation key from the environment.
fn job(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("jobs/sample.toml")).unwrap();
    let data = repo().join("sample-data");
    let text = text
        .replace("../sample-data", &data.display().to_string())
        .replace(
            "\"../out\"",
            &format!("{:?}", dir.join("out").display().to_string()),
        )
        .replace(
            "token = \"none\"",
            "token = { static = { env = \"PULLRECON_TEST_TOKEN\" } }",
        )
        + "\n[pseudonymisation]\nkey_env = \"PULLRECON_TEST_BSN_KEY\"\n";
    let path = dir.join("sample.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> std::process::Output {
    bin()
        .env("PULLRECON_TEST_TOKEN", TOKEN)
        .env("PULLRECON_TEST_BSN_KEY", KEY)
        .env("RUST_LOG", "trace")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_sample_job_at_trace_level_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let out = dir.path().join("out");
    let job = job.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let mut logs: Vec<(String, String)> = Vec::new();
    for (name, args) in [
        ("run", vec!["--log-level", "trace", "run", "--job", job]),
        (
            "run json",
            vec![
                "--log-level",
                "trace",
                "--log-format",
                "json",
                "run",
                "--job",
                job,
            ],
        ),
        (
            "report",
            vec!["--log-level", "trace", "report", "--out", out_s],
        ),
        (
            "replay dry-run",
            vec![
                "--log-level",
                "trace",
                "replay",
                "--out",
                out_s,
                "--dry-run",
            ],
        ),
    ] {
        let o = run(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{name}: {:?}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        logs.push((
            format!("{name} stdout"),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ));
        logs.push((
            format!("{name} stderr"),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    }
    // The trace logs are real: they hold many lines, and the replay did send requests.
    assert!(logs[1].1.lines().count() > 20, "trace logging is on");
    assert!(
        logs.iter()
            .any(|(_, t)| t.contains("TRACE") || t.contains("\"TRACE\""))
    );

    let mut secrets = secrets_in_sample();
    secrets.push(TOKEN.into());
    secrets.push(KEY.into());
    let mut haystacks = logs;
    let files = all_files(&out);
    let kinds = |ext: &str| {
        files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with(ext))
            .count()
    };
    assert!(kinds(".parquet") >= 8, "tables, replay_attempts, job_runs");
    assert!(
        kinds(".html") >= 1 && kinds(".prom") >= 1,
        "report and metrics"
    );
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/replayed/")),
        "replayed log"
    );
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/landing/")),
        "landing zone"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        haystacks.push((
            f.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
        if f.extension().is_some_and(|x| x == "parquet") {
            for b in read_batches(f) {
                let schema = b.schema();
                for field in schema.fields() {
                    use arrow_schema::DataType::*;
                    if matches!(field.data_type(), Utf8 | LargeUtf8 | Utf8View) {
                        let vals: Vec<String> = column_strings(&b, field.name())
                            .into_iter()
                            .flatten()
                            .collect();
                        haystacks
                            .push((format!("{}:{}", f.display(), field.name()), vals.join("\n")));
                    }
                }
            }
        }
    }
    // The scan looks at the right things: the key was used (a BSN's pseudonym is there).
    let bsn = secrets
        .iter()
        .find(|s| pullrecon::bsn::is_valid(s))
        .unwrap();
    let pseudonym = pullrecon::bsn::Pseudonymiser::new(Some(KEY.as_bytes().to_vec()))
        .pseudonym(bsn)
        .unwrap();
    assert!(
        haystacks
            .iter()
            .any(|(p, t)| p.contains("bsn_audit") && t.contains(&pseudonym))
    );
    let mut hits = Vec::new();
    for (place, text) in &haystacks {
        for (i, s) in secrets.iter().enumerate() {
            if text.contains(s.as_str()) {
                // Name the secret by its index only: the test output is a log too.
                hits.push(format!("secret #{i} in {place}"));
            }
        }
    }
    assert!(hits.is_empty(), "{} hit(s): {hits:#?}", hits.len());
}

#[test]
fn nothing_created_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let o = run(&["run", "--job", job.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = dir.path().join("out");
    let mut checked = 0;
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "{} is {mode:o}", d.display());
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode();
                assert_eq!(mode & 0o007, 0, "{} is {mode:o}", p.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "{checked} files");
}
