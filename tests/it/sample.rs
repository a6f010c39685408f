//! The bundled sample data: its findings are exactly those its author listed by hand in
//! `sample-data/expected-findings.json` (written from the stories, not from our output).

use crate::common::*;
use pullrecon::reconcile::{Outcome, reconcile};
use serde_json::Value;
use std::collections::BTreeSet;

/// (category, severity, notification, message, request, replayable)
pub type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

pub fn sample_options(out: &std::path::Path) -> pullrecon::reconcile::Options {
    let mut o = options(
        &repo().join("sample-data/sent"),
        &repo().join("sample-data/received"),
        out,
    );
    o.command = "sample".into();
    o
}

/// The findings of a run as comparable rows.
pub fn rows(outcome: &Outcome) -> BTreeSet<Row> {
    outcome
        .findings
        .iter()
        .map(|f| {
            (
                f.category.to_owned(),
                f.severity.as_str().to_owned(),
                f.notification.clone(),
                f.message.clone(),
                f.request.clone(),
                f.replayable,
            )
        })
        .collect()
}

/// The hand-written expected findings of the sample.
pub fn expected_rows() -> BTreeSet<Row> {
    let text = std::fs::read_to_string(repo().join("sample-data/expected-findings.json")).unwrap();
    let expected: Vec<Value> = serde_json::from_str(&text).unwrap();
    let s = |v: &Value| v.as_str().map(str::to_owned);
    expected
        .iter()
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

/// Asserts that a run's findings are exactly the sample's expected ones.
pub fn assert_sample_findings(outcome: &Outcome, context: &str) {
    let got = rows(outcome);
    let want = expected_rows();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{context}: missing {missing:#?}\nextra {extra:#?}"
    );
    assert_eq!(
        outcome.findings.len(),
        want.len(),
        "{context}: no finding twice"
    );
}

#[test]
fn sample_findings_equal_the_expected_list() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = reconcile(&sample_options(dir.path())).unwrap();
    assert_sample_findings(&outcome, "sample-data");
    assert_eq!(expected_rows().len(), 37);
}

#[test]
fn sample_covers_every_category() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = reconcile(&sample_options(dir.path())).unwrap();
    for (category, _) in pullrecon::checks::categories() {
        assert!(
            outcome.count(category) > 0,
            "{category} does not occur in sample-data"
        );
    }
    assert_eq!(outcome.exit_code(), 3);
    // One line is repeated byte for byte, one event is after as-of, one before the lookback.
    assert_eq!(outcome.run.duplicates, 1);
    assert_eq!(outcome.run.after_as_of, 1);
    assert_eq!(outcome.run.before_lookback, 1);
    // Three bad lines at the end of the pulls log, set aside with their reasons.
    assert_eq!(outcome.run.rejects, 3);
    for code in [
        "timestamp-without-offset",
        "invalid-json",
        "unknown-interaction",
    ] {
        assert_eq!(
            outcome.rejects_by_reason.get(code).copied(),
            Some(1),
            "{code}"
        );
    }
}
