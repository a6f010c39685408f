//! Exit thresholds per finding category, as in dbt: `warn_if` / `error_if` conditions on the
//! count (`"> 0"`, `">= 10"`), and the verdict over a run's counts that sets its exit status.

use super::Job;
use crate::checks::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// dbt-style thresholds for one category: conditions on the count, such as `"> 0"` or `">= 10"`.
/// A field left out comes from `[thresholds.default]`, else from the category's severity: an
/// `error` category has `error_if = "> 0"` (the contract's exit status 3), a `warning` category
/// `warn_if = "> 0"`, an `info` category neither. `severity = "warn"` means: never an error.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub severity: Option<ThresholdSeverity>,
    pub warn_if: Option<Condition>,
    pub error_if: Option<Condition>,
}

/// `error` (the default: `error_if` is checked) or `warn` (only `warn_if` is).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSeverity {
    Error,
    Warn,
}

impl Job {
    /// Judges the counts per category against the thresholds (see [`Threshold`]).
    pub fn judge(&self, counts: &BTreeMap<String, u64>) -> Verdict {
        let default = self.thresholds.get("default");
        let mut v = Verdict::default();
        for (cat, sev) in crate::checks::categories() {
            let n = counts.get(cat).copied().unwrap_or(0);
            let own = self.thresholds.get(cat);
            let pick = |f: fn(&Threshold) -> Option<Condition>| {
                own.and_then(f).or_else(|| default.and_then(f))
            };
            let severity = own
                .and_then(|t| t.severity)
                .or_else(|| default.and_then(|t| t.severity))
                .unwrap_or(ThresholdSeverity::Error);
            let gt0 = Condition { op: ">", n: 0 };
            let error_if = pick(|t| t.error_if).or((sev == Severity::Error).then_some(gt0));
            let warn_if = pick(|t| t.warn_if).or((sev != Severity::Info).then_some(gt0));
            if severity == ThresholdSeverity::Error
                && let Some(c) = error_if.filter(|c| c.holds(n))
            {
                v.errors.push(Breach {
                    category: cat,
                    count: n,
                    condition: c,
                });
            } else if let Some(c) = warn_if.filter(|c| c.holds(n)) {
                v.warnings.push(Breach {
                    category: cat,
                    count: n,
                    condition: c,
                });
            }
        }
        v
    }
}

/// A threshold condition on a count: `> N`, `>= N`, `< N`, `<= N`, `== N`, `!= N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    op: &'static str,
    n: u64,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.n)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Condition::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A category whose count meets a threshold condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub category: &'static str,
    pub count: u64,
    pub condition: Condition,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.category, self.count, self.condition)
    }
}

/// What the thresholds say about a run's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub errors: Vec<Breach>,
    pub warnings: Vec<Breach>,
}

impl Verdict {
    /// The contract's exit status: 3 when a category is over its error threshold, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.errors.is_empty() { 0 } else { 3 }
    }
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
