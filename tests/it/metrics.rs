//! The metrics file: it parses with a Prometheus text-format parser (`prometheus_client` from
//! PyPI, in the venv that `scripts/test` makes; `PULLRECON_PYTHON` names its python), holds the
//! run's findings per category and severity, the replay, the unresolved items, the last run and
//! the last successful run; it is replaced atomically (no temporary file left, mode 0644); a
//! failed run keeps the last success of an earlier one.

use crate::jobs::stderr;
use crate::run::{expected_rows, no_replay, sample_job_edit};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
out = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// The samples of a metrics file, as parsed by prometheus_client.
fn parse(path: &Path) -> Vec<Value> {
    let python = std::env::var("PULLRECON_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(&python)
        .args(["-c", PARSE])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    assert!(
        o.status.success(),
        "prometheus_client could not parse {} (run the tests with scripts/test, which installs it; \
         or set PULLRECON_PYTHON): {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .and_then(|s| s["value"].as_f64())
}

#[test]
fn the_metrics_file_parses_and_holds_the_runs_figures() {
    let s = sample_job_edit("", no_replay);
    let o = s.run(&["--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let path = s.out.join("pullrecon.prom");
    let samples = parse(&path);
    assert!(samples.iter().all(|x| x["type"] == "gauge"));
    assert!(
        samples
            .iter()
            .all(|x| x["labels"]["pullrecon_job"] == "sample"),
        "every sample carries pullrecon_job"
    );
    // Findings per category and severity, every category listed (zeros too).
    let mut want: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (c, sev) in pullrecon::checks::categories() {
        want.insert((c.to_owned(), sev.as_str().to_owned()), 0.0);
    }
    for r in expected_rows() {
        *want.get_mut(&(r.0.clone(), r.1.clone())).unwrap() += 1.0;
    }
    for ((c, sev), n) in &want {
        assert_eq!(
            value(
                &samples,
                "pullrecon_findings",
                &[("category", c), ("severity", sev)]
            ),
            Some(*n),
            "{c}"
        );
    }
    for outcome in [
        "planned",
        "succeeded",
        "failed",
        "parked",
        "refused",
        "deferred",
    ] {
        assert!(value(&samples, "pullrecon_replay_items", &[("outcome", outcome)]).is_some());
    }
    assert_eq!(
        value(&samples, "pullrecon_unresolved_items", &[]),
        Some(35.0)
    );
    // The oldest unresolved item: P6, received 2026-11-19T07:30:02Z, never processed.
    let age = value(&samples, "pullrecon_oldest_unresolved_age_seconds", &[]).unwrap();
    assert_eq!(
        age,
        (21.0 * 3600.0 + 29.0 * 60.0 + 58.0),
        "as-of minus 2026-11-19T07:30:02Z"
    );
    assert_eq!(
        value(&samples, "pullrecon_last_run_exit_code", &[]),
        Some(3.0)
    );
    assert!(value(&samples, "pullrecon_run_duration_seconds", &[]).unwrap() > 0.0);
    let last = value(&samples, "pullrecon_last_run_timestamp_seconds", &[]).unwrap();
    assert!(last > 1.7e9);
    assert!(value(&samples, "pullrecon_last_success_timestamp_seconds", &[]).is_some());
    assert!(value(&samples, "pullrecon_step_success", &[("step", "replay")]).is_some());
    // Written atomically: no temporary file beside it; readable by the owner and its group
    // (node_exporter's user is given the group), not by others.
    let leftovers: Vec<_> = std::fs::read_dir(&s.out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn a_failed_run_keeps_the_last_success() {
    let s = sample_job_edit("[thresholds.default]\nseverity = \"warn\"", no_replay);
    assert_eq!(s.run(&["--quiet"]).status.code(), Some(0));
    let path = s.out.join("pullrecon.prom");
    let first = parse(&path);
    assert_eq!(value(&first, "pullrecon_last_run_success", &[]), Some(1.0));
    let success = value(&first, "pullrecon_last_success_timestamp_seconds", &[]).unwrap();
    assert_eq!(
        Some(success),
        value(&first, "pullrecon_last_run_timestamp_seconds", &[]),
        "a successful run is the last success"
    );
    // Then a run that cannot be done (its input is gone).
    let text = std::fs::read_to_string(&s.job)
        .unwrap()
        .replace("sample-data/sent/*", "sample-data/gone/*");
    std::fs::write(&s.job, text).unwrap();
    assert_eq!(s.run(&["--quiet"]).status.code(), Some(1));
    let second = parse(&path);
    assert_eq!(value(&second, "pullrecon_last_run_success", &[]), Some(0.0));
    assert_eq!(
        value(&second, "pullrecon_last_run_exit_code", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&second, "pullrecon_last_success_timestamp_seconds", &[]),
        Some(success)
    );
    assert!(
        value(
            &second,
            "pullrecon_findings",
            &[("category", "pull-failed")]
        )
        .is_none(),
        "no findings of a run that was not done"
    );
}
