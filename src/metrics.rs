//! Metrics of the latest run in the Prometheus text exposition format, for node_exporter's
//! textfile collector: findings per category and severity, replay outcomes, the unresolved items
//! and the age of the oldest, the last run and the last successful run, the run's duration, its
//! steps and exit status. Every gauge carries `pullrecon_job` (not `job`, which Prometheus sets
//! itself). The file is written atomically: a hidden temporary file in the same folder (the
//! collector reads `*.prom` only), synced, then renamed over the old one. No timestamps on samples
//! (the textfile collector refuses them) and no personal data: labels are category names, step
//! names and the job name.

use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What the metrics say about one run.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    pub job: String,
    pub run_id: String,
    pub as_of: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// All steps ran (findings do not make a run unsuccessful).
    pub success: bool,
    pub exit_code: i32,
    /// (category, severity) → count; `None` when the run produced no findings (it failed).
    pub findings: Option<BTreeMap<(String, String), u64>>,
    /// step → 1 ok / skipped, 0 error.
    pub steps: Vec<(String, bool)>,
    pub replay_enabled: bool,
    /// outcome (`planned`, `succeeded`, …) → count.
    pub replay: Vec<(&'static str, i64)>,
    pub replay_attempts: i64,
    pub unresolved: u64,
    pub oldest_unresolved_age_seconds: Option<f64>,
    pub last_success: Option<i64>,
    pub threshold_errors: usize,
    pub threshold_warnings: usize,
    pub rejects: Option<u64>,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
    job: String,
}

impl Out {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut l = format!("pullrecon_job=\"{}\"", esc(&self.job));
        for (k, v) in labels {
            let _ = write!(l, ",{k}=\"{}\"", esc(v));
        }
        let v = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        };
        let _ = writeln!(self.text, "{name}{{{l}}} {v}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help);
        self.sample(name, &[], value);
    }
}

fn secs(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// The text of the metrics file.
pub fn render(m: &RunMetrics) -> String {
    let mut o = Out {
        text: String::new(),
        job: m.job.clone(),
    };
    if let Some(findings) = &m.findings {
        o.family(
            "pullrecon_findings",
            "Findings of the latest run, by category and severity.",
        );
        for ((cat, sev), n) in findings {
            o.sample(
                "pullrecon_findings",
                &[("category", cat), ("severity", sev)],
                *n as f64,
            );
        }
        o.gauge(
            "pullrecon_unresolved_items",
            "Findings of severity error or warning in the latest run.",
            m.unresolved as f64,
        );
        o.gauge(
            "pullrecon_oldest_unresolved_age_seconds",
            "Age at as-of of the oldest unresolved item (0 when there is none).",
            m.oldest_unresolved_age_seconds.unwrap_or(0.0),
        );
        o.gauge(
            "pullrecon_threshold_errors",
            "Categories over their error threshold in the latest run.",
            m.threshold_errors as f64,
        );
        o.gauge(
            "pullrecon_threshold_warnings",
            "Categories over their warning threshold in the latest run.",
            m.threshold_warnings as f64,
        );
    }
    if let Some(r) = m.rejects {
        o.gauge(
            "pullrecon_rejects",
            "Log records set aside as unreadable in the latest run.",
            r as f64,
        );
    }
    o.gauge(
        "pullrecon_replay_enabled",
        "1 when the job replays, 0 when replay is turned off in the job file.",
        if m.replay_enabled { 1.0 } else { 0.0 },
    );
    o.family(
        "pullrecon_replay_items",
        "Items of the latest run's replay, by outcome (planned, succeeded, failed, parked, refused, deferred).",
    );
    for (outcome, n) in &m.replay {
        o.sample("pullrecon_replay_items", &[("outcome", outcome)], *n as f64);
    }
    o.gauge(
        "pullrecon_replay_attempts",
        "Requests the latest run's replay sent.",
        m.replay_attempts as f64,
    );
    o.family(
        "pullrecon_step_success",
        "1 when a step of the latest run succeeded (or was skipped on purpose), 0 when it failed.",
    );
    for (step, ok) in &m.steps {
        o.sample(
            "pullrecon_step_success",
            &[("step", step)],
            if *ok { 1.0 } else { 0.0 },
        );
    }
    o.gauge(
        "pullrecon_last_run_timestamp_seconds",
        "When the latest run finished (Unix time).",
        secs(m.finished_at),
    );
    o.gauge(
        "pullrecon_last_run_success",
        "1 when the latest run did all its steps, else 0.",
        if m.success { 1.0 } else { 0.0 },
    );
    o.gauge(
        "pullrecon_last_run_exit_code",
        "Exit status of the latest run (0, 3 error findings, 1 could not be done).",
        f64::from(m.exit_code),
    );
    o.gauge(
        "pullrecon_last_run_as_of_timestamp_seconds",
        "The as-of of the latest run (Unix time).",
        secs(m.as_of),
    );
    o.gauge(
        "pullrecon_run_duration_seconds",
        "How long the latest run took.",
        secs(m.finished_at - m.started_at),
    );
    o.gauge(
        "pullrecon_last_success_timestamp_seconds",
        "When the newest successful run (all steps done) of this job in its output folder finished (Unix time; 0: none yet).",
        m.last_success.map(secs).unwrap_or(0.0),
    );
    o.text
}

/// Writes the metrics file atomically (mode 0640: counts only, but like every output not for
/// others; give node_exporter's user the file's group).
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::tables::writer::write_file_atomic(path, text.as_bytes(), "metrics file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_families_typed() {
        let mut f = BTreeMap::new();
        f.insert(("pull-failed".to_owned(), "error".to_owned()), 4);
        let m = RunMetrics {
            job: "a\"b".into(),
            findings: Some(f),
            steps: vec![("replay".into(), false)],
            ..Default::default()
        };
        let t = render(&m);
        assert!(t.contains(
            "pullrecon_findings{pullrecon_job=\"a\\\"b\",category=\"pull-failed\",severity=\"error\"} 4\n"
        ));
        assert!(t.contains("# TYPE pullrecon_step_success gauge\n"));
        assert!(
            t.contains("pullrecon_last_success_timestamp_seconds{pullrecon_job=\"a\\\"b\"} 0\n")
        );
    }
}
