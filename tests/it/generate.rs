//! `pullrecon generate`: the synthetic logs give exactly the findings `expected.json` promises,
//! per category, for two seeds and other rates; the same seed gives the same bytes; the command
//! line works and refuses unknown categories.

use crate::common::*;
use pullrecon::generate::{Config, generate};
use pullrecon::reconcile::reconcile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

/// Reconciles a generated folder at the parameters `expected.json` states; compares every count.
fn check_counts(dir: &Path) {
    let want = expected(dir);
    assert_eq!(want["as_of"], AS_OF, "the test harness runs at this as-of");
    assert_eq!(want["grace"], "15m");
    assert_eq!(want["lookback"], "30d");
    assert_eq!(want["push_sla"], "24h");
    let out = dir.join("out");
    let outcome = reconcile(&options(&dir.join("sent"), &dir.join("received"), &out)).unwrap();
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for (category, _) in pullrecon::checks::categories() {
        got.insert(category.to_owned(), outcome.count(category) as u64);
    }
    let want_counts: BTreeMap<String, u64> = want["findings"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got, want_counts, "findings per category");
    assert!(
        want_counts.values().all(|n| *n > 0),
        "every category occurs"
    );
    let r = &outcome.run;
    assert_eq!(r.notifications, want["notifications"].as_u64().unwrap());
    let lines = &want["lines"];
    assert_eq!(
        r.events_read,
        lines["sent"].as_u64().unwrap() + lines["received"].as_u64().unwrap()
    );
    assert_eq!(r.duplicates, lines["duplicates"].as_u64().unwrap());
    assert_eq!(r.after_as_of, lines["after_as_of"].as_u64().unwrap());
    assert_eq!(
        r.before_lookback,
        lines["before_lookback"].as_u64().unwrap()
    );
    assert_eq!(r.rejects, lines["rejects"].as_u64().unwrap());
}

#[test]
fn findings_equal_the_expected_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&Config::new(3000, 1), dir.path()).unwrap();
    assert_eq!(s.notifications, 3000);
    assert!(s.files.len() >= 8, "several files per log: {:?}", s.files);
    check_counts(dir.path());
}

#[test]
fn another_seed_and_other_rates() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(2000, 42);
    cfg.set_rate("pull-failed=0.05").unwrap();
    cfg.set_rate("notification-duplicate=0.02").unwrap();
    cfg.set_rate("bsn-mismatch=0").unwrap();
    cfg.parts = Some(3);
    generate(&cfg, dir.path()).unwrap();
    let want = expected(dir.path());
    assert_eq!(want["findings"]["pull-failed"], 100);
    assert_eq!(want["findings"]["bsn-mismatch"], 0);
    // Every other category still occurs; the counts hold.
    let with_zero = want["findings"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.as_u64() == Some(0))
        .count();
    assert_eq!(with_zero, 1);
    let out = dir.path().join("out");
    let outcome = reconcile(&options(
        &dir.path().join("sent"),
        &dir.path().join("received"),
        &out,
    ))
    .unwrap();
    for (category, n) in want["findings"].as_object().unwrap() {
        assert_eq!(
            outcome.count(category) as u64,
            n.as_u64().unwrap(),
            "{category}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let sa = generate(&Config::new(400, 9), a.path()).unwrap();
    generate(&Config::new(400, 9), b.path()).unwrap();
    generate(&Config::new(400, 10), c.path()).unwrap();
    let read = |root: &Path, f: &Path| std::fs::read(root.join(f.strip_prefix(a.path()).unwrap()));
    let mut differs = false;
    for f in &sa.files {
        assert_eq!(
            read(a.path(), f).unwrap(),
            read(b.path(), f).unwrap(),
            "{}",
            f.display()
        );
        differs |= read(c.path(), f).ok() != read(a.path(), f).ok();
    }
    assert!(differs, "another seed gives other files");
    // expected.json differs only in the folder it names.
    let ea = std::fs::read_to_string(a.path().join("expected.json")).unwrap();
    let eb = std::fs::read_to_string(b.path().join("expected.json")).unwrap();
    assert_eq!(
        ea.replace(&a.path().display().to_string(), "DIR"),
        eb.replace(&b.path().display().to_string(), "DIR")
    );
}

#[test]
fn command_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["generate", "--notifications", "300", "--seed", "3", "--out"])
        .arg(dir.path())
        .args(["--rate", "pull-missing=0.02"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("300 notifications"));
    assert_eq!(expected(dir.path())["findings"]["pull-missing"], 6);
    let o = bin()
        .args(["generate", "--notifications", "300", "--out"])
        .arg(dir.path())
        .args(["--rate", "pull-flaky=0.1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a finding category"));
}
