//! Bad input beside good input: each kind of damage gives a clear message or a counted reject,
//! and the rest of the run's results stay right (the sample's findings are unchanged).

use crate::common::*;
use crate::sample::{assert_sample_findings, sample_options};
use pullrecon::reconcile::{Outcome, reconcile};
use std::io::Write;
use std::path::Path;

enum Side {
    Sent,
    Received,
}

/// The sample run with one extra file on one side.
fn sample_plus(side: Side, name: &str, write: impl FnOnce(&Path)) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join(name);
    write(&extra);
    let mut o = sample_options(&dir.path().join("out"));
    match side {
        Side::Sent => o.sent.push(extra.display().to_string()),
        Side::Received => o.received.push(extra.display().to_string()),
    }
    reconcile(&o).unwrap()
}

const PUSH: &str = r#"{"ts":"2026-11-19T12:00:00Z","interaction":"push-processed","message":"bad-input-probe","outcome":"accepted"}"#;

#[test]
fn a_100_mb_line_is_set_aside() {
    let outcome = sample_plus(Side::Received, "huge.ndjson", |p| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        writeln!(f, "{PUSH}").unwrap();
        f.write_all(br#"{"ts":"2026-11-19T12:00:00Z","interaction":"read","status":200,"x":""#)
            .unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}\n").unwrap();
        writeln!(f, "{}", PUSH.replace("probe", "probe-2")).unwrap();
    });
    assert_eq!(
        outcome.rejects_by_reason.get("line-too-long").copied(),
        Some(1)
    );
    assert_sample_findings(&outcome, "100 MB line");
}

#[test]
fn bom_and_crlf() {
    let outcome = sample_plus(Side::Received, "windows.ndjson", |p| {
        std::fs::write(
            p,
            format!("\u{feff}{PUSH}\r\n{}\r\n", PUSH.replace("probe", "p2")),
        )
        .unwrap()
    });
    assert_eq!(
        outcome.run.rejects, 3,
        "only the sample's own three rejects"
    );
    assert_sample_findings(&outcome, "BOM and CRLF");
}

#[test]
fn invalid_utf8_and_binary_garbage() {
    let outcome = sample_plus(Side::Sent, "garbage.ndjson", |p| {
        let mut bytes: Vec<u8> = (0u8..=255).cycle().take(10_000).collect();
        bytes.push(b'\n');
        bytes.extend_from_slice(b"\xc3\x28{}\n");
        std::fs::write(p, bytes).unwrap()
    });
    assert!(outcome.run.rejects > 3);
    assert_sample_findings(&outcome, "garbage");
}

#[test]
fn an_empty_file_and_an_empty_gzip() {
    let a = sample_plus(Side::Sent, "empty.ndjson", |p| {
        std::fs::write(p, "").unwrap()
    });
    assert_sample_findings(&a, "empty file");
    let b = sample_plus(Side::Received, "empty.ndjson.gz", |p| {
        let enc = flate2::write::GzEncoder::new(
            std::fs::File::create(p).unwrap(),
            flate2::Compression::default(),
        );
        enc.finish().unwrap();
    });
    assert_sample_findings(&b, "empty gzip");
    let c = sample_plus(Side::Received, "zero.ndjson.gz", |p| {
        std::fs::write(p, "").unwrap()
    });
    assert_sample_findings(&c, "zero-byte gzip");
}

#[test]
fn a_gzip_that_is_not_gzip() {
    let outcome = sample_plus(Side::Received, "fake.ndjson.gz", |p| {
        std::fs::write(p, format!("{PUSH}\n")).unwrap()
    });
    assert_eq!(
        outcome.rejects_by_reason.get("unreadable").copied(),
        Some(1)
    );
    assert_sample_findings(&outcome, "not gzip");
}

#[test]
fn dates_far_in_the_future_or_past() {
    let outcome = sample_plus(Side::Sent, "dates.ndjson", |p| {
        let mut t = task(
            "0f000000-0000-4000-8000-00000000da7e",
            "0f000000-0000-4000-8000-00000000da7f",
        );
        t["restriction"]["period"]["end"] = serde_json::json!("9999-12-31T23:59:59Z");
        t["authoredOn"] = serde_json::json!("0001-01-01T00:00:00Z");
        let lines = [
            r#"{"ts":"9999-12-31T23:59:59Z","interaction":"push","status":202,"message":"future"}"#.to_owned(),
            r#"{"ts":"0001-01-01T00:00:00Z","interaction":"push","status":202,"message":"past"}"#.to_owned(),
            r#"{"ts":"+10000-01-01T00:00:00Z","interaction":"push","status":202,"message":"beyond"}"#.to_owned(),
            r#"{"ts":"2026-02-30T00:00:00Z","interaction":"push","status":202,"message":"no-such-day"}"#.to_owned(),
            notify("0001-01-01T00:00:00Z", Some(201), &t).to_string(),
        ];
        std::fs::write(p, lines.join("\n")).unwrap()
    });
    assert_eq!(
        outcome.rejects_by_reason.get("bad-timestamp").copied(),
        Some(2)
    );
    assert_eq!(outcome.run.after_as_of, 2, "the sample's one and year 9999");
    assert_eq!(
        outcome.run.before_lookback, 3,
        "the sample's one, year 1 twice"
    );
    assert_sample_findings(&outcome, "far dates");
}

#[test]
fn ten_thousand_duplicate_lines_count_once() {
    let outcome = sample_plus(Side::Received, "dups.ndjson", |p| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        for _ in 0..10_000 {
            writeln!(f, "{PUSH}").unwrap();
        }
    });
    assert_eq!(outcome.run.duplicates, 1 + 9_999);
    assert_sample_findings(&outcome, "10k duplicates");
    let b = sample_plus(Side::Received, "dups.ndjson.gz", |p| {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(p).unwrap(),
            flate2::Compression::fast(),
        );
        for _ in 0..10_000 {
            writeln!(enc, "{PUSH}").unwrap();
        }
        enc.finish().unwrap();
    });
    assert_eq!(b.run.duplicates, 1 + 9_999);
}

#[test]
fn the_same_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = sample_options(&dir.path().join("out"));
    o.sent.push(
        repo()
            .join("sample-data/sent/notified-pull-2026-11-19.ndjson")
            .display()
            .to_string(),
    );
    o.sent.push(
        repo()
            .join("sample-data/sent/*.ndjson")
            .display()
            .to_string(),
    );
    let outcome = reconcile(&o).unwrap();
    assert_eq!(outcome.ingested_files, 5);
    assert_sample_findings(&outcome, "named twice");
}

#[test]
fn a_folder_without_logs_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a log").unwrap();
    let mut o = sample_options(&dir.path().join("out"));
    o.received.push(dir.path().display().to_string());
    let e = reconcile(&o).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("holds no log files"), "{msg}");
    assert!(!dir.path().join("out").exists(), "nothing written");
}
