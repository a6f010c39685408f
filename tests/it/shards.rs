//! `pullrecon reconcile --shard I/N`: the shards of one night together write exactly the rows of
//! one unsharded run (a group never splits), each into its own part file of the same partitions;
//! a new shard layout replaces the old one's files and keeps its sibling shards' parts; the replay
//! run once over the shards' output plans what it plans over one unsharded run.

use crate::common::*;
use crate::tables::{column_bool, column_strings};
use pullrecon::generate::{Config, generate};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `reconcile` of a generated folder at its expected.json parameters, with extra arguments.
fn reconcile_generated(data: &Path, out: &Path, extra: &[&str]) {
    let args = [&["-q"], extra].concat();
    reconcile_logs(&data.join("sent"), &data.join("received"), out, &args);
}

/// Adds to the received log `n` notifications that neither log notified, with two pulls each.
fn add_stray_pulls(data: &Path, n: usize) {
    let mut text = String::new();
    for k in 0..n {
        for request in ["Patient", "Observation?code=http://loinc.org%7C85354-9"] {
            text.push_str(&format!(
                "{{\"ts\":\"2026-11-19T2{}:{:02}:00Z\",\"interaction\":\"search\",\"status\":200,\
                 \"notification\":\"urn:ietf:rfc:3986|urn:uuid:00000000-0000-4000-8000-{k:012}\",\
                 \"request\":\"{request}\"}}\n",
                k % 4,
                k % 60
            ));
        }
    }
    std::fs::write(data.join("received").join("stray-pulls.ndjson"), text).unwrap();
}

/// Every row of a table's files whose names match `part`, as comparable text.
type Rows = BTreeMap<Vec<Option<String>>, usize>;

fn rows(out: &Path, table: &str, columns: &[&str], part: &str) -> Rows {
    let mut rows = Rows::new();
    for file in parquet_files(&out.join(table)) {
        let name = file.file_name().unwrap().to_str().unwrap();
        if !name.contains(part) {
            continue;
        }
        for b in read_batches(&file) {
            let cols: Vec<Vec<Option<String>>> = columns
                .iter()
                .map(|c| match *c {
                    "replayable" | "notification_known" => column_bool(&b, c)
                        .into_iter()
                        .map(|v| v.map(|v| v.to_string()))
                        .collect(),
                    _ => column_strings(&b, c),
                })
                .collect();
            for r in 0..b.num_rows() {
                *rows
                    .entry(cols.iter().map(|c| c[r].clone()).collect())
                    .or_default() += 1;
            }
        }
    }
    rows
}

const FINDING: [&str; 10] = [
    "category",
    "severity",
    "notification",
    "message",
    "group",
    "sender",
    "receiver",
    "request",
    "replayable",
    "detail",
];

#[test]
fn four_shards_together_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&Config::new(3000, 11), &data).unwrap();
    add_stray_pulls(&data, 40);
    let whole = dir.path().join("whole");
    reconcile_generated(&data, &whole, &[]);
    let sharded = dir.path().join("sharded");
    for i in 0..4 {
        reconcile_generated(&data, &sharded, &["--shard", &format!("{i}/4")]);
    }

    let want = rows(&whole, "findings", &FINDING, "part-0-of-1");
    assert!(want.values().sum::<usize>() > 80, "a run with findings");
    let mut got = Rows::new();
    let mut groups_seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..4 {
        let part = rows(&sharded, "findings", &FINDING, &format!("part-{i}-of-4"));
        assert!(
            part.values().sum::<usize>() * 10 > want.values().sum::<usize>(),
            "shard {i} has a fair share of the findings"
        );
        let groups: BTreeSet<String> = part.keys().filter_map(|r| r[4].clone()).collect();
        for g in groups {
            *groups_seen.entry(g).or_default() += 1;
        }
        for (row, n) in part {
            *got.entry(row).or_default() += n;
        }
    }
    assert_eq!(got, want, "the shards' findings are the unsharded run's");
    assert!(
        groups_seen.values().all(|n| *n == 1),
        "a group never splits over shards"
    );

    // The per-notification tables split the same way.
    for (table, columns) in [
        ("notifications", &["notification", "group", "sender"][..]),
        ("requests", &["notification", "request"][..]),
    ] {
        let want = rows(&whole, table, columns, "part-0-of-1");
        let got: Rows = (0..4)
            .flat_map(|i| rows(&sharded, table, columns, &format!("part-{i}-of-4")))
            .fold(Rows::new(), |mut acc, (r, n)| {
                *acc.entry(r).or_default() += n;
                acc
            });
        assert!(!want.is_empty());
        assert_eq!(got, want, "{table}");
    }
    // Among them the pulls of notifications neither log notified, each in the shard of its
    // notification's identifier.
    let stray = |out: &Path, part: &str| -> usize {
        rows(out, "requests", &["notification_known"], part)
            .get(&vec![Some("false".to_owned())])
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(stray(&whole, "part-0-of-1"), 80);
    let per_shard: Vec<usize> = (0..4)
        .map(|i| stray(&sharded, &format!("part-{i}-of-4")))
        .collect();
    assert_eq!(per_shard.iter().sum::<usize>(), 80, "{per_shard:?}");
    assert!(
        per_shard.iter().filter(|n| **n > 0).count() > 1,
        "{per_shard:?}"
    );

    // The replay afterwards (cron/: once, over the shared output) plans from the four shards'
    // runs exactly the items it plans from the one unsharded run.
    let plan = |out: &Path| -> Vec<String> {
        let o = bin()
            .args(["replay", "--dry-run", "--embedded-sender"])
            .arg(&data)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(o.status.code(), Some(0), "{text}");
        // The first line names the run planned from; the others are the items and the total.
        let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let want = plan(&whole);
    assert!(
        want.iter()
            .filter(|l| l.trim_start().starts_with("send "))
            .count()
            > 40,
        "{want:?}"
    );
    assert_eq!(plan(&sharded), want);
}

#[test]
fn a_new_layout_replaces_the_old_and_keeps_sibling_shards() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&Config::new(200, 3), &data).unwrap();
    let out = dir.path().join("out");
    let names = |out: &Path| -> BTreeSet<String> {
        parquet_files(&out.join("findings"))
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    reconcile_generated(&data, &out, &[]);
    assert_eq!(names(&out), BTreeSet::from(["part-0-of-1.parquet".into()]));
    reconcile_generated(&data, &out, &["--shard", "0/2"]);
    assert_eq!(names(&out), BTreeSet::from(["part-0-of-2.parquet".into()]));
    reconcile_generated(&data, &out, &["--shard", "1/2"]);
    assert_eq!(
        names(&out),
        BTreeSet::from(["part-0-of-2.parquet".into(), "part-1-of-2.parquet".into()])
    );
    // Re-running one shard replaces only its own part.
    reconcile_generated(&data, &out, &["--shard", "1/2"]);
    assert_eq!(names(&out).len(), 2);
    reconcile_generated(&data, &out, &[]);
    assert_eq!(names(&out), BTreeSet::from(["part-0-of-1.parquet".into()]));
}

#[test]
fn a_shard_that_does_not_exist_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["4/4", "0/0", "1", "a/4", "-1/4", "0/5000"] {
        let o = bin()
            .args([
                "reconcile",
                "--sent",
                "sample-data/sent",
                "--received",
                "sample-data/received",
                "--out",
            ])
            .arg(dir.path())
            .arg(format!("--shard={bad}"))
            .current_dir(repo())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "--shard {bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("I/N"), "{bad}: {err}");
    }
}

/// The Kubernetes Indexed Job in cron/ runs one shard per index, and its N is its completions.
#[test]
fn the_indexed_job_runs_one_shard_per_index() {
    let text = std::fs::read_to_string(repo().join("cron/pullrecon-indexed-job.yaml")).unwrap();
    let value = |key: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing"))
            .trim()
            .to_owned()
    };
    assert_eq!(value("completionMode:"), "Indexed");
    let n = value("completions:");
    assert_eq!(value("parallelism:"), n);
    assert!(
        text.contains(&format!("--shard \"${{JOB_COMPLETION_INDEX}}/{n}\"")),
        "--shard names the index and N = completions"
    );
    for k in 0..n.parse::<u32>().unwrap() {
        assert_eq!(
            pullrecon::cli::parse_shard_arg(&format!("{k}/{n}")),
            Ok((k, n.parse().unwrap()))
        );
    }
}
