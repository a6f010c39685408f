//! Job files (`jobs/*.toml`): one file says what a nightly job is: its inputs (globs with the run
//! date filled in), output folder, time zone, windows, senders (organisation → FHIR base, token
//! source), replay limits, exit thresholds, the BSN key source, report and metrics paths.
//! Secrets are never in the file: only the names of environment variables or files holding them.
//! An unknown key or a bad value is an error naming the file, the line and the key.

use crate::time::parse_duration;
use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A duration written as text in a job file (`15m`, `36h`, `14d`), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub i64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// A size written as text (`512KB`, `50MB`, `1GB`, or bytes), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s).map(Size).map_err(serde::de::Error::custom)
    }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("GB") {
        (n, 1u64 << 30)
    } else if let Some(n) = t.strip_suffix("MB") {
        (n, 1 << 20)
    } else if let Some(n) = t.strip_suffix("KB") {
        (n, 1 << 10)
    } else if let Some(n) = t.strip_suffix('B') {
        (n, 1)
    } else {
        (t.as_str(), 1)
    };
    num.trim()
        .parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("'{s}' is not a size such as 512KB, 50MB or 1GB"))
}

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

/// dbt-style thresholds for one category: conditions on the count, such as `"> 0"` or `">= 10"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub warn_if: Option<String>,
    pub error_if: Option<String>,
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
    /// The sample job: serve `sample-data/` as a loopback FHIR sender (an embedded default).
    #[serde(default)]
    pub embedded_sender: Option<PathBuf>,
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
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            anyhow!(
                "{}:{line}:{col}: {}",
                path.display(),
                e.message().trim_end()
            )
        })?;
        job.check()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        job.resolve_paths(dir);
        Ok(job)
    }

    fn check(&self) -> Result<()> {
        self.time_zone.parse::<chrono_tz::Tz>().map_err(|_| {
            anyhow!(
                "time_zone '{}' is not an IANA time zone name",
                self.time_zone
            )
        })?;
        for s in &self.senders {
            if crate::fhir::request::origin(&s.base).is_none() {
                return Err(anyhow!(
                    "senders: base '{}' of {} is not an http(s) URL",
                    s.base,
                    s.organisation
                ));
            }
        }
        if self.replay.concurrency == 0 || self.replay.per_host == 0 || self.replay.batch_size == 0
        {
            return Err(anyhow!(
                "replay: concurrency, per_host and batch_size must be at least 1"
            ));
        }
        for (cat, t) in &self.thresholds {
            for cond in [&t.warn_if, &t.error_if].into_iter().flatten() {
                Condition::parse(cond).map_err(|e| anyhow!("thresholds.{cat}: {e}"))?;
            }
        }
        if self.pseudonymisation.key_env.is_some() && self.pseudonymisation.key_file.is_some() {
            return Err(anyhow!(
                "pseudonymisation: name key_env or key_file, not both"
            ));
        }
        Ok(())
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let abs_glob = |g: &String| {
            if Path::new(g).is_absolute() {
                g.clone()
            } else {
                dir.join(g).display().to_string()
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
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

/// A threshold condition on a count: `> N`, `>= N`, `< N`, `<= N`, `== N`, `!= N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    op: &'static str,
    n: u64,
}

impl Condition {
    pub fn parse(s: &str) -> Result<Condition, String> {
        let t = s.trim();
        for op in [">=", "<=", "==", "!=", ">", "<"] {
            if let Some(n) = t.strip_prefix(op) {
                let n = n
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("'{s}': expected a whole number after {op}"))?;
                return Ok(Condition { op, n });
            }
        }
        Err(format!(
            "'{s}': expected a condition such as '> 0' or '>= 10'"
        ))
    }

    pub fn holds(&self, count: u64) -> bool {
        match self.op {
            ">=" => count >= self.n,
            "<=" => count <= self.n,
            "==" => count == self.n,
            "!=" => count != self.n,
            ">" => count > self.n,
            _ => count < self.n,
        }
    }
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
