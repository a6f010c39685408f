//! Bad input: every reject reason, in every format. A bad record is counted and set aside with
//! its file and line, never its content, and the rest of the run goes on.

use crate::common::*;
use pullrecon::reconcile::{Outcome, reconcile};
use std::io::Write;
use std::path::Path;

const GOOD: &str = r#"{"ts":"2026-11-19T10:00:00Z","interaction":"push","status":202,"message":"m-good","sender":"s|1","receiver":"r|1"}"#;

/// Runs reconcile with `sent_file` (written by `write`) as the sent log and an empty received log.
fn run_with(name: &str, write: impl FnOnce(&Path)) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join(name);
    write(&sent);
    let received = dir.path().join("received.ndjson");
    std::fs::write(&received, "").unwrap();
    reconcile(&options(&sent, &received, &dir.path().join("out"))).unwrap()
}

fn ndjson<'a>(lines: &'a [&'a [u8]]) -> impl FnOnce(&Path) + 'a {
    move |p: &Path| {
        let mut f = std::fs::File::create(p).unwrap();
        for l in lines {
            f.write_all(l).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
}

#[test]
fn one_test_per_reject_reason() {
    let big = format!("{{\"ts\":\"{}\"}}", "x".repeat(17 << 20));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid UTF-8", b"{\"ts\":\"\xff\"}".to_vec(), "invalid-utf8"),
        ("truncated JSON", br#"{"ts":"2026-11-19T10:00:00Z","#.to_vec(), "invalid-json"),
        ("an array", b"[1,2,3]".to_vec(), "not-an-object"),
        ("no ts", br#"{"interaction":"push","status":200,"message":"m"}"#.to_vec(), "missing-field"),
        ("no status", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push","message":"m"}"#.to_vec(), "missing-field"),
        ("no task", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"notify","status":201}"#.to_vec(), "missing-field"),
        ("no request", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"read","status":200,"notification":"a|b"}"#.to_vec(), "missing-field"),
        ("wrong type", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push","status":200,"message":{"id":1}}"#.to_vec(), "bad-field-type"),
        ("unknown interaction", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"pull","status":200}"#.to_vec(), "unknown-interaction"),
        ("no offset", br#"{"ts":"2026-11-19T10:00:00","interaction":"push","status":200,"message":"m"}"#.to_vec(), "timestamp-without-offset"),
        ("bad timestamp", br#"{"ts":"19-11-2026","interaction":"push","status":200,"message":"m"}"#.to_vec(), "bad-timestamp"),
        ("bad status", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push","status":"OK","message":"m"}"#.to_vec(), "bad-status"),
        ("status out of range", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push","status":9000,"message":"m"}"#.to_vec(), "bad-status"),
        ("task not JSON", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"notify","status":201,"task":"{oops"}"#.to_vec(), "bad-task"),
        ("task of another type", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"notify","status":201,"task":{"resourceType":"Patient"}}"#.to_vec(), "bad-task"),
        ("bad outcome", br#"{"ts":"2026-11-19T10:00:00Z","interaction":"push-processed","message":"m","outcome":"done"}"#.to_vec(), "bad-outcome"),
        ("line too long", big.into_bytes(), "line-too-long"),
    ];
    for (name, line, code) in cases {
        let outcome = run_with(
            "sent.ndjson",
            ndjson(&[GOOD.as_bytes(), &line, GOOD.as_bytes()]),
        );
        assert_eq!(
            outcome.rejects_by_reason.get(code).copied(),
            Some(1),
            "{name}: rejects {:?}",
            outcome.rejects_by_reason
        );
        assert_eq!(outcome.run.rejects, 1, "{name}");
        // The good line is used once (its twin is a duplicate); the run went on.
        assert_eq!(outcome.run.events_used, 1, "{name}");
        assert_eq!(outcome.run.duplicates, 1, "{name}");
        assert_eq!(
            outcome.run.events_read, 3,
            "{name}: every record accounted for"
        );
    }
}

#[test]
fn truncated_gzip_keeps_what_was_read() {
    let mut full = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut full, flate2::Compression::default());
        for i in 0..2000 {
            writeln!(enc, r#"{{"ts":"2026-11-19T10:00:00Z","interaction":"push","status":202,"message":"m-{i}"}}"#).unwrap();
        }
        enc.finish().unwrap();
    }
    let cut = full[..full.len() * 2 / 3].to_vec();
    let outcome = run_with("sent.ndjson.gz", |p| std::fs::write(p, &cut).unwrap());
    assert_eq!(
        outcome.rejects_by_reason.get("unreadable").copied(),
        Some(1)
    );
    assert!(
        outcome.run.events_used > 100,
        "the lines before the cut are kept"
    );
    assert!(outcome.run.events_used < 2000);
}

#[test]
fn csv_rows_are_rejected_one_by_one() {
    let outcome = run_with("sent.csv", |p| {
        std::fs::write(
            p,
            "\u{feff}ts,interaction,status,message,sender,receiver\r\n\
             2026-11-19T10:00:00Z,push,202,m-1,s|1,r|1\r\n\
             2026-11-19T10:00:00,push,202,m-2,s|1,r|1\r\n\
             2026-11-19T10:00:00Z,push,abc,m-3,s|1,r|1\r\n\
             2026-11-19T10:05:00Z,push,,m-4,s|1,r|1\r\n",
        )
        .unwrap()
    });
    assert_eq!(
        outcome.run.events_used, 2,
        "BOM and CRLF are fine; m-1 and m-4 (null status)"
    );
    assert_eq!(
        outcome
            .rejects_by_reason
            .get("timestamp-without-offset")
            .copied(),
        Some(1)
    );
    assert_eq!(
        outcome.rejects_by_reason.get("bad-status").copied(),
        Some(1)
    );
}

#[test]
fn csv_missing_a_required_column() {
    let outcome = run_with("sent.csv", |p| {
        std::fs::write(
            p,
            "interaction,status,message\npush,202,m-1\npush,202,m-2\n",
        )
        .unwrap()
    });
    assert_eq!(
        outcome.rejects_by_reason.get("missing-field").copied(),
        Some(2)
    );
    assert_eq!(outcome.run.events_used, 0);
}

#[test]
fn parquet_input_with_text_and_typed_columns() {
    use polars::prelude::*;
    let outcome = run_with("sent.parquet", |p| {
        let mut df = DataFrame::new_infer_height(vec![
            Column::new(
                "ts".into(),
                ["2026-11-19T10:00:00Z", "2026-11-19T10:01:00Z", "later"],
            ),
            Column::new("interaction".into(), ["push", "push", "push"]),
            Column::new("status".into(), [Some(202i64), None, Some(202)]),
            Column::new("message".into(), ["m-1", "m-2", "m-3"]),
        ])
        .unwrap();
        ParquetWriter::new(std::fs::File::create(p).unwrap())
            .finish(&mut df)
            .unwrap();
    });
    assert_eq!(outcome.run.events_used, 2);
    assert_eq!(
        outcome.rejects_by_reason.get("bad-timestamp").copied(),
        Some(1)
    );
}

#[test]
fn parquet_with_a_column_of_the_wrong_shape() {
    use polars::prelude::*;
    let outcome = run_with("sent.parquet", |p| {
        let msg = Series::new("message".into(), [Series::new("".into(), [1i64, 2])]);
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("ts".into(), ["2026-11-19T10:00:00Z"]),
            Column::new("interaction".into(), ["push"]),
            Column::new("status".into(), [202i64]),
            msg.into_column(),
        ])
        .unwrap();
        ParquetWriter::new(std::fs::File::create(p).unwrap())
            .finish(&mut df)
            .unwrap();
    });
    assert_eq!(
        outcome.rejects_by_reason.get("bad-field-type").copied(),
        Some(1)
    );
}

#[test]
fn a_file_that_is_not_parquet() {
    let outcome = run_with("sent.parquet", |p| {
        std::fs::write(p, "not parquet at all").unwrap()
    });
    assert_eq!(
        outcome.rejects_by_reason.get("unreadable").copied(),
        Some(1)
    );
}

#[test]
fn empty_files_are_fine() {
    let outcome = run_with("sent.ndjson", |p| std::fs::write(p, "").unwrap());
    assert_eq!(outcome.run.events_read, 0);
    assert_eq!(outcome.run.rejects, 0);
    assert_eq!(outcome.exit_code(), 0);
}

#[test]
fn reject_rows_name_file_and_line_but_never_content() {
    let secret_line = br#"{"ts":"2026-11-19T10:00:00","interaction":"notify","status":201,"task":{"for":{"identifier":{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"172642863"}}}}"#;
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent.ndjson");
    ndjson(&[GOOD.as_bytes(), secret_line])(&sent);
    let received = dir.path().join("received.ndjson");
    std::fs::write(&received, "").unwrap();
    let out = dir.path().join("out");
    reconcile(&options(&sent, &received, &out)).unwrap();
    let files = parquet_files(&out.join("rejects"));
    assert_eq!(files.len(), 1);
    let batches = read_batches(&files[0]);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 1);
    let text = crate::tables::column_strings(b, "file");
    assert!(text[0].as_deref().unwrap().ends_with("sent.ndjson"));
    let line = crate::tables::column_i64(b, "line");
    assert_eq!(line, vec![Some(2)]);
    for col in ["reason", "reason_code", "file"] {
        for v in crate::tables::column_strings(b, col).into_iter().flatten() {
            assert!(!v.contains(BSN), "{col} holds the BSN");
        }
    }
}
