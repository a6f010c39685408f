//! Job files (`jobs/*.toml`): one file says what a nightly job is: its inputs (globs with the run
//! date filled in), output folder, time zone, windows, senders (organisation → FHIR base, token
//! source), replay limits, exit thresholds, the BSN key source, report and metrics paths, and the
//! as-of policy of `run`. Secrets are never in the file: only the names of environment variables
//! or files holding them. An unknown key or a bad value is an error naming the file, the line and
//! the key (`jobs/x.toml:11:1: windows.grase: unknown field …`). The threshold rules (dbt-style
//! `warn_if`/`error_if` per category) are in `thresholds`, error positions in `location`.

mod location;
mod thresholds;
mod units;

pub use thresholds::{Breach, Condition, Threshold, ThresholdSeverity, Verdict};
pub use units::{Dur, Size, parse_size};

use anyhow::{Context, Result, anyhow};
use location::{key_path_at, line_col, span_of_key};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a secret comes from: an environment variable or a file (its content, trimmed).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretSource {
    /// Reads the secret. Errors name the variable or file, never the value.
    pub fn load(&self) -> Result<crate::secret::Secret> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| crate::secret::Secret::new(v.trim().to_owned()))
                .ok_or_else(|| anyhow!("the environment variable {var} is not set")),
            (None, Some(path)) => {
                let v = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the secret file {}", path.display()))?;
                let v = v.trim();
                if v.is_empty() {
                    return Err(anyhow!("the secret file {} is empty", path.display()));
                }
                Ok(crate::secret::Secret::new(v.to_owned()))
            }
            _ => Err(anyhow!("a secret source names exactly one of env or file")),
        }
    }
}

/// How pullrecon gets a bearer token for a sender.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum TokenSource {
    /// A static token from an environment variable or a file.
    Static(SecretSource),
    /// OAuth2 client credentials at a token endpoint; the notification's authorization-base is
    /// sent as `authorization_base`.
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: SecretSource,
        scope: Option<String>,
    },
    /// No token (a sender on loopback in tests and demos).
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// The sending organisation as `system|value` (as in `requester.onBehalfOf.identifier`).
    pub organisation: String,
    /// The sender's FHIR base URL; requests go to this origin only.
    pub base: String,
    #[serde(default = "default_token")]
    pub token: TokenSource,
}

fn default_token() -> TokenSource {
    TokenSource::None
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Globs of the sent log; `{date}`, `{date-1}`, … are the run date and the days before.
    pub sent: Vec<String>,
    pub received: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub dir: PathBuf,
    /// The HTML report (default `<dir>/report.html`).
    pub report: Option<PathBuf>,
    /// The Prometheus textfile (default `<dir>/pullrecon.prom`).
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    #[serde(default = "d_grace")]
    pub grace: Dur,
    #[serde(default = "d_lookback")]
    pub lookback: Dur,
    #[serde(default = "d_push_sla")]
    pub push_sla: Dur,
}

fn d_grace() -> Dur {
    Dur(15 * 60)
}
fn d_lookback() -> Dur {
    Dur(30 * 86_400)
}
fn d_push_sla() -> Dur {
    Dur(24 * 3600)
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            grace: d_grace(),
            lookback: d_lookback(),
            push_sla: d_push_sla(),
        }
    }
}

/// Replay limits (`pullrecon replay` and the replay step of `run`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayLimits {
    /// Whether `run` and `backfill` replay at all (default true; the BSN audit job turns it off).
    pub enabled: bool,
    /// Requests in flight at once, over all senders.
    pub concurrency: usize,
    /// Requests in flight at once per sender host.
    pub per_host: usize,
    /// Attempts in all (over runs) before an item is parked.
    pub max_attempts: u32,
    /// Items per batch; a checkpoint is written after each.
    pub batch_size: usize,
    /// Total time the replay may take.
    pub budget: Dur,
    /// Per-request timeout.
    pub timeout: Dur,
    /// Largest response body read.
    pub max_body: Size,
    pub backoff_base: Dur,
    pub backoff_cap: Dur,
    /// The longest Retry-After honoured.
    pub retry_after_cap: Dur,
    /// Consecutive transient failures that open a host's circuit breaker.
    pub breaker_threshold: u32,
    /// Attempts within one run for one item.
    pub attempts_per_run: u32,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        ReplayLimits {
            enabled: true,
            concurrency: 64,
            per_host: 8,
            max_attempts: 5,
            batch_size: 200,
            budget: Dur(30 * 60),
            timeout: Dur(30),
            max_body: Size(50 << 20),
            backoff_base: Dur(1),
            backoff_cap: Dur(60),
            retry_after_cap: Dur(300),
            breaker_threshold: 5,
            attempts_per_run: 3,
        }
    }
}

/// When `run` judges (`[reconcile] as_of`): `"now"` (the default), `"midnight"` (the local
/// midnight that started today, so any re-run during the day gives the same findings) or a fixed
/// RFC 3339 instant (the sample job). `run --as-of` wins over it; `backfill` ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOfPolicy {
    #[default]
    Now,
    Midnight,
    Fixed(i64),
}

impl<'de> Deserialize<'de> for AsOfPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim() {
            "now" => Ok(AsOfPolicy::Now),
            "midnight" => Ok(AsOfPolicy::Midnight),
            t => crate::time::parse_rfc3339(t).map(AsOfPolicy::Fixed).map_err(|_| {
                serde::de::Error::custom(format!(
                    "'{s}': expected \"now\", \"midnight\" or an RFC 3339 instant such as 2026-11-20T05:00:00Z"
                ))
            }),
        }
    }
}

impl AsOfPolicy {
    /// The as-of instant (UTC microseconds) for a run started at `now`.
    pub fn resolve(self, now: i64, tz: chrono_tz::Tz) -> i64 {
        match self {
            AsOfPolicy::Now => now,
            AsOfPolicy::Fixed(t) => t,
            AsOfPolicy::Midnight => {
                crate::days::local_midnight(crate::time::local_date(now, tz), tz).unwrap_or(now)
            }
        }
    }
}

/// `[reconcile]`: how `run` picks its as-of.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcilePolicy {
    pub as_of: AsOfPolicy,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Pseudonymisation {
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
}

/// A whole job file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// A name for the job (lock files, metrics labels).
    pub name: String,
    #[serde(default = "d_tz")]
    pub time_zone: String,
    /// The sample job: serve `sample-data/` as a loopback FHIR sender (an embedded default). The
    /// folder is a snapshot of the run's night, so the replay acts at the run's as-of.
    #[serde(default)]
    pub embedded_sender: Option<PathBuf>,
    #[serde(default)]
    pub reconcile: ReconcilePolicy,
    pub inputs: Inputs,
    pub output: Output,
    #[serde(default)]
    pub windows: Windows,
    #[serde(default)]
    pub senders: Vec<Sender>,
    #[serde(default)]
    pub replay: ReplayLimits,
    #[serde(default)]
    pub thresholds: BTreeMap<String, Threshold>,
    #[serde(default)]
    pub pseudonymisation: Pseudonymisation,
}

fn d_tz() -> String {
    "Europe/Amsterdam".into()
}

impl Job {
    /// Reads and checks a job file. Relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the job file {}", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Job> {
        let mut job: Job = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            let (line, col) = line_col(text, at);
            let key = key_path_at(text, at);
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("{key}: ")
            };
            anyhow!(
                "{}:{line}:{col}: {key}{}",
                path.display(),
                e.message().trim_end().replace('\n', " ")
            )
        })?;
        if let Err(BadValue { key, message }) = job.check() {
            let (line, col) = span_of_key(text, &key)
                .map(|o| line_col(text, o))
                .unwrap_or((1, 1));
            return Err(anyhow!(
                "{}:{line}:{col}: {}: {message}",
                path.display(),
                key.join(".").replace(".[", "[")
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        job.resolve_paths(dir);
        Ok(job)
    }

    /// Checks what serde cannot: the error names the key (as a path) and says what is wrong.
    fn check(&self) -> Result<(), BadValue> {
        let bad = |key: &[&str], message: String| BadValue {
            key: key.iter().map(|k| (*k).to_owned()).collect(),
            message,
        };
        if self.name.trim().is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                &["name"],
                format!(
                    "'{}': use letters, digits, '-', '_' or '.' (it names lock files and metric labels)",
                    self.name
                ),
            ));
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(bad(
                &["time_zone"],
                format!(
                    "'{}' is not an IANA time zone name such as Europe/Amsterdam",
                    self.time_zone
                ),
            ));
        }
        for (side, globs) in [
            ("sent", &self.inputs.sent),
            ("received", &self.inputs.received),
        ] {
            if globs.is_empty() {
                return Err(bad(
                    &["inputs", side],
                    "name at least one file, folder or glob".into(),
                ));
            }
        }
        for (i, s) in self.senders.iter().enumerate() {
            if crate::fhir::request::origin(&s.base).is_none() {
                let idx = format!("[{i}]");
                return Err(bad(
                    &["senders", &idx, "base"],
                    format!("'{}' of {} is not an http(s) URL", s.base, s.organisation),
                ));
            }
        }
        for (key, v) in [
            ("concurrency", self.replay.concurrency),
            ("per_host", self.replay.per_host),
            ("batch_size", self.replay.batch_size),
        ] {
            if v == 0 {
                return Err(bad(&["replay", key], "must be at least 1".into()));
            }
        }
        let known = crate::checks::categories();
        for cat in self.thresholds.keys() {
            if cat != "default" && !known.iter().any(|(c, _)| c == cat) {
                return Err(bad(
                    &["thresholds", cat],
                    format!(
                        "'{cat}' is not a finding category (nor 'default'); categories: {}",
                        known.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if self.pseudonymisation.key_env.is_some() && self.pseudonymisation.key_file.is_some() {
            return Err(bad(
                &["pseudonymisation", "key_file"],
                "name key_env or key_file, not both".into(),
            ));
        }
        Ok(())
    }

    /// The input globs with the run date filled in (`{date}` = the local date of as-of).
    pub fn inputs_for(&self, date: chrono::NaiveDate) -> (Vec<String>, Vec<String>) {
        let sub = |v: &Vec<String>| v.iter().map(|g| substitute_date(g, date)).collect();
        (sub(&self.inputs.sent), sub(&self.inputs.received))
    }

    /// The HTML report's path (default `<dir>/report.html`).
    pub fn report_path(&self) -> PathBuf {
        self.output
            .report
            .clone()
            .unwrap_or_else(|| self.output.dir.join("report.html"))
    }

    /// The Prometheus textfile's path (default `<dir>/pullrecon.prom`).
    pub fn metrics_path(&self) -> PathBuf {
        self.output
            .metrics
            .clone()
            .unwrap_or_else(|| self.output.dir.join("pullrecon.prom"))
    }

    fn resolve_paths(&mut self, dir: &Path) {
        // The job file's folder, absolute and without symlinks, so that `..` in a relative path
        // means its real parent and every path in logs and tables is absolute.
        let dir = dir
            .canonicalize()
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.to_path_buf());
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                join_relative(&dir, p)
            }
        };
        let abs_glob = |g: &String| {
            if Path::new(g).is_absolute() {
                g.clone()
            } else {
                join_relative(&dir, Path::new(g)).display().to_string()
            }
        };
        self.output.dir = abs(&self.output.dir);
        self.output.report = self.output.report.as_deref().map(abs);
        self.output.metrics = self.output.metrics.as_deref().map(abs);
        self.inputs.sent = self.inputs.sent.iter().map(abs_glob).collect();
        self.inputs.received = self.inputs.received.iter().map(abs_glob).collect();
        self.embedded_sender = self.embedded_sender.as_deref().map(abs);
        if let Some(f) = &self.pseudonymisation.key_file {
            self.pseudonymisation.key_file = Some(abs(f));
        }
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone
            .parse()
            .unwrap_or(chrono_tz::Europe::Amsterdam)
    }

    /// Sending organisation → base URL.
    pub fn sender_bases(&self) -> BTreeMap<String, String> {
        self.senders
            .iter()
            .map(|s| {
                (
                    s.organisation.clone(),
                    s.base.trim_end_matches('/').to_owned(),
                )
            })
            .collect()
    }
}

/// `dir` joined with a relative path, its leading `..` taken off `dir` (which has no symlinks).
fn join_relative(dir: &Path, rel: &Path) -> PathBuf {
    let mut base = dir.to_path_buf();
    let mut rest = rel.components().peekable();
    while let Some(c) = rest.peek() {
        match c {
            std::path::Component::ParentDir if base.parent().is_some() => {
                base.pop();
            }
            std::path::Component::CurDir => {}
            _ => break,
        }
        rest.next();
    }
    base.join(rest.collect::<PathBuf>())
}

/// A value that parsed but is not allowed, with the key path it sits at.
#[derive(Debug)]
struct BadValue {
    key: Vec<String>,
    message: String,
}

/// Fills `{date}`, `{date-1}`, `{date+1}`, … in a glob with dates around the run date.
pub fn substitute_date(pattern: &str, date: chrono::NaiveDate) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("{date") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 5..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let offset = &after[..end];
        let days: Option<i64> = if offset.is_empty() {
            Some(0)
        } else {
            offset.parse::<i64>().ok()
        };
        match days.and_then(|d| date.checked_add_signed(chrono::Duration::days(d))) {
            Some(d) => out.push_str(&d.format("%Y-%m-%d").to_string()),
            None => out.push_str(&rest[start..start + 6 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
name = "t"
[inputs]
sent = ["logs/sent/{date}/*.ndjson"]
received = ["logs/received/{date}/*.ndjson"]
[output]
dir = "out"
"#;

    #[test]
    fn minimal_job_and_defaults() {
        let j = Job::parse(MIN, Path::new("/etc/pullrecon/t.toml")).unwrap();
        assert_eq!(j.windows.grace, Dur(900));
        assert_eq!(j.output.dir, PathBuf::from("/etc/pullrecon/out"));
        assert_eq!(j.inputs.sent[0], "/etc/pullrecon/logs/sent/{date}/*.ndjson");
        assert_eq!(j.replay.per_host, 8);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = format!("{MIN}\n[windows]\ngrace = \"15m\"\ngrase = \"1h\"\n");
        let e = Job::parse(&text, Path::new("jobs/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("jobs/x.toml:11:"), "{e}");
        assert!(e.contains("grase"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let text = format!("{MIN}\n[windows]\ngrace = \"15 minutes\"\n");
        let e = Job::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml:10:"), "{e}");
        let text = format!("{MIN}\n[thresholds.pull-failed]\nerror_if = \"lots\"\n");
        let e = Job::parse(&text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("thresholds.pull-failed"), "{e}");
    }

    #[test]
    fn key_paths_and_spans() {
        let text = "name = \"x\"\n[windows]\ngrace = \"15 m\"\n[[senders]]\nbase = \"a\"\n[[senders]]\nbase = \"b\"\n[thresholds.pull-failed]\nerror_if = \"lots\"\n";
        let at = |needle: &str| key_path_at(text, text.find(needle).unwrap());
        assert_eq!(at("\"15 m\""), "windows.grace");
        assert_eq!(at("grace"), "windows.grace");
        assert_eq!(at("\"b\""), "senders[1].base");
        assert_eq!(at("\"lots\""), "thresholds.pull-failed.error_if");
        let key = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            span_of_key(text, &key(&["senders", "[1]", "base"])),
            text.find("base = \"b\"")
        );
        assert_eq!(
            span_of_key(text, &key(&["thresholds", "pull-failed"])),
            text.find("pull-failed]")
        );
    }

    #[test]
    fn dates_fill_in() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            substitute_date("a/{date}/b-{date-1}-{date+1}.ndjson", d),
            "a/2026-03-01/b-2026-02-28-2026-03-02.ndjson"
        );
    }

    #[test]
    fn conditions() {
        assert!(Condition::parse("> 0").unwrap().holds(1));
        assert!(!Condition::parse(">10").unwrap().holds(10));
        assert!(Condition::parse("!= 0").unwrap().holds(3));
        assert!(Condition::parse("maybe").is_err());
    }
}
