//! `pullrecon reconcile` as a user runs it: exit statuses, the summary, repeatability, privacy of
//! every output, and DuckDB reading the findings as one Hive-partitioned table.

use crate::common::*;
use crate::tables::column_strings;
use std::path::Path;
use std::process::Output;

fn reconcile_cmd(out: &Path, extra: &[&str]) -> Output {
    reconcile_at(out, AS_OF, extra)
}

fn reconcile_at(out: &Path, as_of: &str, extra: &[&str]) -> Output {
    let repo = repo();
    bin()
        .current_dir(&repo)
        .args([
            "reconcile",
            "--sent",
            "sample-data/sent",
            "--received",
            "sample-data/received",
        ])
        .arg("--out")
        .arg(out)
        .args(["--as-of", as_of])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn sample_run_exits_3_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let o = reconcile_cmd(dir.path(), &[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    for (category, severity) in pullrecon::checks::categories() {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(category))
            .unwrap_or_else(|| panic!("{category} missing from the summary:\n{stdout}"));
        assert!(line.contains(severity.as_str()));
    }
    assert!(stdout.contains("findings:"));
    assert!(stdout.contains("1 duplicates"));
}

/// The summary's lines that say what a run found (not its run id or where its tables went).
fn found(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 2, "{text}");
    lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn a_dry_run_finds_what_a_run_finds_and_writes_and_hashes_nothing() {
    let written = tempfile::tempdir().unwrap();
    let run = reconcile_cmd(written.path(), &[]);
    assert_eq!(run.status.code(), Some(3));

    // With an output folder (even one holding a run) and without one.
    let out = tempfile::tempdir().unwrap();
    let before = files_with_bytes(written.path());
    for dir in [out.path(), written.path()] {
        let dry = reconcile_cmd(dir, &["--dry-run"]);
        assert_eq!(
            dry.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&dry.stderr)
        );
        assert_eq!(found(&dry.stdout), found(&run.stdout));
        let text = String::from_utf8_lossy(&dry.stdout);
        assert!(
            text.ends_with("tables: none written (a dry run)\n"),
            "{text}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    assert_eq!(files_with_bytes(written.path()), before);
    let dry = bin()
        .current_dir(repo())
        .args(["reconcile", "--sent", "sample-data/sent", "--received"])
        .args(["sample-data/received", "--as-of", AS_OF, "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(3));
    assert_eq!(found(&dry.stdout), found(&run.stdout));

    // No input is hashed: no digests are being worked out, and none is in the accounts.
    let outcome =
        pullrecon::reconcile::analyse(&crate::sample::sample_options(out.path())).unwrap();
    assert!(outcome.digests.is_none());
    assert_eq!(outcome.files.len(), 5);
    assert!(outcome.files.iter().all(|f| f.sha256.is_empty()));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn healthy_logs_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = task(
        "0a000000-0000-4000-8000-000000000001",
        "0b000000-0000-4000-8000-000000000001",
    );
    t["for"]["identifier"]["value"] = serde_json::json!(BSN);
    let story = Story::new().healthy("0a000000-0000-4000-8000-000000000001", &t);
    let (s, r) = story.write(dir.path());
    let o = bin()
        .args(["reconcile", "--sent"])
        .arg(&s)
        .arg("--received")
        .arg(&r)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--as-of", AS_OF])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [
        vec!["--grace", "15"],
        vec!["--lookback", "forever"],
        vec!["--time-zone", "Mars/Olympus"],
        vec!["--sender", "no-equals-sign"],
        vec!["--no-such-flag"],
    ] {
        let o = reconcile_cmd(dir.path(), &extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(!o.stderr.is_empty());
    }
    let o = reconcile_at(dir.path(), "2026-11-20T05:00:00", &[]);
    assert_eq!(o.status.code(), Some(2), "as-of without offset");
    let o = bin().args(["reconcile", "--sent", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "missing --received and --out");
    let o = bin()
        .args(["reconcile", "--sent", "x", "--received", "y"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "neither --out nor --dry-run");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dry-run"));
}

#[test]
fn a_run_that_cannot_be_done_exits_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["--sent".into(), "no/such/file.ndjson".into()],
        vec!["--sent".into(), dir.path().display().to_string()],
        vec!["--sent".into(), "sample-data/sent/*.nothing".into()],
    ];
    for case in cases {
        let o = bin()
            .current_dir(repo())
            .arg("reconcile")
            .args(&case)
            .args(["--received", "sample-data/received", "--out"])
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{case:?}");
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("pullrecon: "), "{stderr}");
    }
    // The key variable is named but not set.
    let o = reconcile_cmd(
        &dir.path().join("o2"),
        &["--bsn-key-env", "PULLRECON_TEST_UNSET_KEY"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("PULLRECON_TEST_UNSET_KEY"));
}

/// Every file under a folder (hidden ones too) with its bytes.
fn files_with_bytes(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    all_files(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// A rerun of a date whose tables cannot all be written (here `runs`, the last one, whose
/// partition folder has become a file) replaces none of them: the date keeps the earlier run's
/// tables, byte for byte, and no temporary file is left. Once the folder is back, the rerun
/// replaces them all.
#[test]
fn a_run_whose_tables_cannot_all_be_written_replaces_none() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(reconcile_cmd(&out, &[]).status.code(), Some(3));
    let runs_dir = out.join("runs").join("date=2026-11-20");
    std::fs::remove_dir_all(&runs_dir).unwrap();
    std::fs::write(&runs_dir, b"not a folder").unwrap();
    let before = files_with_bytes(&out);
    assert!(before.len() >= 7, "{:?}", before.keys());

    let o = reconcile_cmd(&out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot write the tables"), "{stderr}");
    let after = files_with_bytes(&out);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &before {
        assert!(&after[path] == bytes, "{} was changed", path.display());
    }

    std::fs::remove_file(&runs_dir).unwrap();
    assert_eq!(reconcile_cmd(&out, &[]).status.code(), Some(3));
    let rerun = files_with_bytes(&out);
    for (path, bytes) in &before {
        if path.extension().is_some_and(|x| x == "parquet") {
            assert!(&rerun[path] != bytes, "{} was not replaced", path.display());
        }
    }
    let ids: std::collections::BTreeSet<_> = pullrecon::tables::TABLES
        .iter()
        .flat_map(|t| crate::run::strings(&out, t, "run_id"))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

/// The `input_files` table's digests, by path.
fn digests_in_table(out: &Path) -> std::collections::BTreeMap<String, String> {
    let paths = crate::run::strings(out, "input_files", "path");
    let shas = crate::run::strings(out, "input_files", "sha256");
    paths
        .into_iter()
        .flatten()
        .zip(shas.into_iter().flatten())
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A reconcile with the debug log of the digests; returns the number of files whose digest was
/// remembered from an earlier run.
fn reconcile_remembering(sent: &Path, received: &Path, out: &Path) -> usize {
    let debug = [
        "--log-format",
        "json",
        "--log-level",
        "pullrecon::ingest=debug",
    ];
    let o = reconcile_logs(sent, received, out, &debug);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains(r#""message":"digests""#))
        .unwrap_or_else(|| panic!("no digests line in {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["fields"]["remembered"].as_u64().unwrap() as usize
}

/// A second reconcile over the same logs takes each file's sha256 from the digests the first one
/// remembered in the output folder, without reading the file again; a file written to since
/// (appended to, or rewritten in place at the same size with its modification time set back)
/// is read again, and every digest in `input_files` is the file's true sha256.
#[test]
fn unchanged_inputs_are_not_hashed_again_and_changed_ones_are() {
    let dir = tempfile::tempdir().unwrap();
    let (sent, received, out) = (
        dir.path().join("sent"),
        dir.path().join("received"),
        dir.path().join("out"),
    );
    for (from, to) in [("sent", &sent), ("received", &received)] {
        std::fs::create_dir(to).unwrap();
        for f in all_files(&repo().join("sample-data").join(from)) {
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    // Files written within a second of a run are not remembered (their stamp could hide a write
    // in the same clock tick).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let files = all_files(&sent).len() + all_files(&received).len();
    assert_eq!(files, 5);
    let check = |out: &Path| {
        let table = digests_in_table(out);
        assert_eq!(table.len(), files, "{table:?}");
        for (path, sha) in &table {
            assert_eq!(sha, &sha256_hex(Path::new(path)), "{path}");
        }
    };

    assert_eq!(reconcile_remembering(&sent, &received, &out), 0);
    check(&out);
    assert!(out.join(".pullrecon-digests.json").exists());
    assert_eq!(reconcile_remembering(&sent, &received, &out), files);
    check(&out);

    // Appended to: another size.
    let pulls = received.join("pulls-2026-11-19.ndjson");
    let mut text = std::fs::read_to_string(&pulls).unwrap();
    text.push('\n');
    std::fs::write(&pulls, &text).unwrap();
    // Rewritten in place at the same size, its modification time set back: only its change time
    // tells.
    let notify = sent.join("notified-pull-2026-11-19.ndjson");
    let modified = std::fs::metadata(&notify).unwrap().modified().unwrap();
    let bytes = std::fs::read(&notify).unwrap();
    let changed = String::from_utf8(bytes.clone())
        .unwrap()
        .replacen("2026-11-19T", "2026-11-18T", 1)
        .into_bytes();
    assert_eq!(changed.len(), bytes.len());
    assert_ne!(changed, bytes);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&notify)
        .unwrap();
    std::io::Write::write_all(&mut &f, &changed).unwrap();
    f.set_modified(modified).unwrap();
    drop(f);
    assert_eq!(
        std::fs::metadata(&notify).unwrap().modified().unwrap(),
        modified
    );

    assert_eq!(reconcile_remembering(&sent, &received, &out), files - 2);
    check(&out);
}

#[test]
fn same_input_and_as_of_give_identical_findings() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert_eq!(reconcile_cmd(a.path(), &[]).status.code(), Some(3));
    assert_eq!(reconcile_cmd(b.path(), &[]).status.code(), Some(3));
    for table in [
        "findings",
        "notifications",
        "requests",
        "bsn_audit",
        "rejects",
    ] {
        let read = |d: &Path| {
            let batches = read_batches(&parquet_files(&d.join(table))[0]);
            let mut rows = Vec::new();
            for batch in &batches {
                let schema = batch.schema();
                let cols: Vec<_> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != "run_id")
                    .collect();
                for i in 0..batch.num_rows() {
                    let row: Vec<String> = cols
                        .iter()
                        .map(|c| {
                            let col = batch.column_by_name(c).unwrap();
                            arrow_cast_display(col.as_ref(), i)
                        })
                        .collect();
                    rows.push(row);
                }
            }
            rows
        };
        let (ra, rb) = (read(a.path()), read(b.path()));
        assert!(!ra.is_empty() || table == "rejects");
        assert_eq!(ra, rb, "{table} differs between two runs");
    }
}

fn arrow_cast_display(a: &dyn arrow_array::Array, i: usize) -> String {
    format!("{:?}", a.slice(i, 1))
}

/// The BSNs and authorization-base values in the sample input, found by reading the logs.
pub fn secrets_in_sample() -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut texts = Vec::new();
    for f in [
        "sample-data/sent/notified-pull-2026-11-19.ndjson",
        "sample-data/received/pulls-2026-11-19.ndjson",
    ] {
        texts.push(std::fs::read_to_string(repo().join(f)).unwrap());
    }
    let gz =
        std::fs::File::open(repo().join("sample-data/received/notified-pull-2026-11-19.ndjson.gz"))
            .unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut s).unwrap();
    texts.push(s);
    fn walk(v: &serde_json::Value, found: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("system").and_then(|s| s.as_str())
                    == Some("http://fhir.nl/fhir/NamingSystem/bsn")
                    && let Some(b) = m.get("value").and_then(|b| b.as_str())
                {
                    found.insert(b.to_owned());
                }
                if let Some(b) = m.get("assertion_bsn").and_then(|b| b.as_str()) {
                    found.insert(b.to_owned());
                }
                let is_auth = m
                    .get("type")
                    .is_some_and(|t| t.to_string().contains("\"authorization-base\""));
                if is_auth && let Some(b) = m.get("valueString").and_then(|b| b.as_str()) {
                    found.insert(b.to_owned());
                }
                m.values().for_each(|x| walk(x, found));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, found)),
            _ => {}
        }
    }
    for t in texts {
        for line in t.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                walk(&v, &mut found);
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_bsn_or_authorization_base_in_any_output() {
    let secrets = secrets_in_sample();
    assert!(
        secrets.len() >= 8,
        "the sample holds BSNs and authorization-bases: {}",
        secrets.len()
    );
    assert!(
        secrets.iter().any(|s| s == "123456789"),
        "the invalid BSN is among them"
    );
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(repo())
        .env("PULLRECON_TEST_KEY", "k3y")
        .args([
            "--log-level",
            "trace",
            "reconcile",
            "--sent",
            "sample-data/sent",
            "--received",
            "sample-data/received",
        ])
        .arg("--out")
        .arg(dir.path())
        .args(["--as-of", AS_OF, "--bsn-key-env", "PULLRECON_TEST_KEY"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let mut haystacks = vec![
        (
            "stdout".to_owned(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ),
        (
            "stderr".to_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
    ];
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), pullrecon::tables::TABLES.len());
    for f in &files {
        // Raw bytes (statistics, metadata) and every decoded string value.
        haystacks.push((
            f.display().to_string(),
            String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned(),
        ));
        for b in read_batches(f) {
            let schema = b.schema();
            for field in schema.fields() {
                if matches!(
                    field.data_type(),
                    arrow_schema::DataType::Utf8
                        | arrow_schema::DataType::LargeUtf8
                        | arrow_schema::DataType::Utf8View
                ) {
                    let vals: Vec<String> = column_strings(&b, field.name())
                        .into_iter()
                        .flatten()
                        .collect();
                    haystacks.push((format!("{}:{}", f.display(), field.name()), vals.join("\n")));
                }
            }
        }
    }
    for (place, text) in &haystacks {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret from the input appears in {place}"
            );
        }
    }
}

/// The Python with DuckDB that `scripts/test` installs (PULLRECON_PYTHON), else `python3`.
fn python() -> String {
    std::env::var("PULLRECON_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn duckdb_reads_findings_as_one_hive_partitioned_table() {
    let dir = tempfile::tempdir().unwrap();
    // Two dates: the sample as of two different days.
    assert_eq!(reconcile_cmd(dir.path(), &[]).status.code(), Some(3));
    assert_eq!(
        reconcile_at(dir.path(), "2026-11-21T05:00:00Z", &[])
            .status
            .code(),
        Some(3)
    );
    let script = r#"
import sys, duckdb
out = sys.argv[1]
rows = duckdb.sql(f"""
  select date::varchar, count(*), count(distinct run_id), min(severity), bool_or(replayable)
  from read_parquet('{out}/findings/**/*.parquet', hive_partitioning=true)
  group by all order by 1""").fetchall()
for r in rows: print(*r, sep='\t')
"#;
    let o = std::process::Command::new(python())
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (run scripts/test, which installs DuckDB)",
                python()
            )
        });
    assert!(
        o.status.success(),
        "DuckDB failed (is it installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("2026-11-20\t37\t1\terror\tTrue"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("2026-11-21\t"), "{stdout}");
}
